"""`cirrus data`: sources, dataset snapshots and versions, transformations, feature groups, training sets.

Each command calls the data API (docs/data.md, "API") and prints a readable summary or table, or with
`--json` the API's answer. A refusal prints the API's error body on stderr and exits 1, as the other
`cirrus` commands do. A password is never an option's value (it would stay in the shell's history and
show in `ps`): it comes from an environment variable, standard input, or an `{"env": VAR}` reference
in a source file.

The group adds itself to the main `cli` group; cirrus.cli imports this module at its end, so either
module may be imported first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cirrus.cli import _ClientFactory, _print_api_error, api_options, cli

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from pydantic import BaseModel

    from cirrus.client import CirrusClient
    from cirrus_core.data.datasets import DatasetVersion
    from cirrus_core.data.sources import SourceView
    from cirrus_core.data.training_sets import TrainingSet
    from cirrus_core.data.transformations import Transformation

T = TypeVar("T")

# How long --wait follows a job, and how often it asks.
DEFAULT_WAIT_SECONDS = 900.0
DEFAULT_INTERVAL_SECONDS = 2.0
# A table cell longer than this is cut (the whole value is in --json).
MAX_CELL = 60
JOB_FINISHED = frozenset({"succeeded", "failed"})


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _clock() -> float:
    return time.monotonic()


# ------------------------------------------------------------------------------------------ plumbing


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--json`: print the API's answer instead of the summary."""
    return click.option("--json", "as_json", is_flag=True, help="Print the API's answer as JSON.")(command)


def wait_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--wait` and how long and how often to poll."""
    command = click.option(
        "--interval",
        type=click.FloatRange(min=0.2),
        default=DEFAULT_INTERVAL_SECONDS,
        show_default=True,
        help="Seconds between two polls.",
    )(command)
    command = click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_WAIT_SECONDS,
        show_default=True,
        help="With --wait: give up (exit 1) after this many seconds; the job goes on.",
    )(command)
    return click.option(
        "--wait", is_flag=True, help="Follow the job until it succeeds or fails; exit 1 unless it succeeds."
    )(command)


def _client(ctx: click.Context) -> CirrusClient:
    """One client per command (its connection pool is reused while polling)."""
    client: CirrusClient | None = ctx.meta.get("cirrus.data.client")
    if client is None:
        factory = ctx.find_object(_ClientFactory)
        if factory is None:  # the group always sets it; a command invoked on its own does not
            raise click.UsageError("Run this through `cirrus data`.")
        client = factory()
        ctx.meta["cirrus.data.client"] = client
    return client


def _call(ctx: click.Context, call: Callable[[CirrusClient], T]) -> T:
    """The call's answer; an API refusal is printed (code, message, details) and exits 1."""
    import requests
    from pydantic import ValidationError

    from cirrus.client import CirrusApiError

    client = _client(ctx)
    try:
        return call(client)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    except requests.RequestException as error:
        click.echo(f"Cannot reach the API: {error}", err=True)
        sys.exit(1)
    except ValidationError as error:  # an API of another version than this client
        click.echo(f"The API's answer is not what this client expects: {error}", err=True)
        sys.exit(1)


def _show_json(answer: BaseModel) -> None:
    click.echo(answer.model_dump_json(indent=2, by_alias=True))


def _cell(value: object) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "None.") -> None:
    """Columns padded to their widest cell; `empty` when there is no row."""
    cells = [[_cell(value) for value in row] for row in rows]
    if not cells:
        click.echo(empty)
        return
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _fields(pairs: Iterable[tuple[str, object]]) -> None:
    """`name: value` lines, the names aligned; values left out when None."""
    shown = [(name, value) for name, value in pairs if value is not None]
    width = max((len(name) for name, _ in shown), default=0)
    for name, value in shown:
        click.echo(f"{name + ':':<{width + 1}} {_cell(value) if not isinstance(value, str) else value}")


def _more(next_token: str | None) -> None:
    if next_token:
        click.echo(f"(more: --next-token {next_token})")


def _read_document(path: Path, what: str) -> dict[str, Any]:
    """A JSON or YAML file holding one object, or a usage error naming the file."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise click.BadParameter(
            f"{path} is not readable JSON or YAML: {error}", param_hint="--from-file"
        ) from error
    if not isinstance(document, dict):
        raise click.BadParameter(f"{path} must hold one object ({what})", param_hint="--from-file")
    return document


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint=option) from error
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return value


def _pairs(values: Sequence[str], option: str) -> dict[str, Any]:
    """KEY=VALUE items, the values parsed as JSON when they are (`5`, `true`), else kept as text."""
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


def _poll(
    fetch: Callable[[], T],
    status_of: Callable[[T], str],
    *,
    what: str,
    timeout: float,
    interval: float,
    finished: frozenset[str] = JOB_FINISHED,
) -> T:
    """Ask `fetch` until the status is a finished one; print each status on stderr; exit 1 on timeout."""
    deadline = _clock() + timeout
    answer = fetch()
    shown = status_of(answer)
    click.echo(f"{what}: {shown}", err=True)
    while shown not in finished:
        remaining = deadline - _clock()
        if remaining <= 0:
            click.echo(
                f"Gave up waiting after {timeout:g} s: {what} is still {shown} (it goes on).", err=True
            )
            sys.exit(1)
        _sleep(min(interval, remaining))
        answer = fetch()
        if status_of(answer) != shown:
            shown = status_of(answer)
            click.echo(f"{what}: {shown}", err=True)
    return answer


# ------------------------------------------------------------------------------------------ group


@cli.group()
@api_options(role_note="default ml_engineer; only admin, with system_config, creates or deletes a source")
@click.pass_context
def data(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Data: sources, dataset snapshots and versions, transformations, feature groups, training sets."""
    ctx.obj = _ClientFactory(api_url, token, role)


# ------------------------------------------------------------------------------------------ sources


@data.group()
def sources() -> None:
    """Data sources: the databases, buckets and streams datasets are read from."""


@sources.command("create")
@click.argument("name", required=False)
@click.option(
    "--type",
    "source_type",
    metavar="TYPE",
    help="postgresql, mysql, mongodb, cassandra, s3, kinesis or kafka.",
)
@click.option("--host", help="The database server's host name or IP address.")
@click.option("--port", type=click.IntRange(1, 65535), help="The database server's port.")
@click.option("--database", help="The database (or keyspace) to read.")
@click.option("--user", help="The user to connect as.")
@click.option(
    "--password-env",
    metavar="VARIABLE",
    help="Read the password from this environment variable (never give it on the command line).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option(
    "--connection",
    "connection_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another connection parameter, e.g. sslmode=require or bucket=my-data (repeatable; not a secret).",
)
@click.option(
    "--option",
    "option_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="A source option, e.g. chunk_rows=10000 (repeatable; JSON values are parsed).",
)
@click.option("--description", help="What the source is.")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The whole source as JSON or YAML: {name, type, connection, options, description}; a secret "
    'may be {"env": "VARIABLE"}.',
)
@json_option
@click.pass_context
def sources_create(
    ctx: click.Context,
    name: str | None,
    source_type: str | None,
    host: str | None,
    port: int | None,
    database: str | None,
    user: str | None,
    password_env: str | None,
    password_stdin: bool,
    connection_items: tuple[str, ...],
    option_items: tuple[str, ...],
    description: str | None,
    from_file: Path | None,
    as_json: bool,
) -> None:
    """Register a data source NAME; its password goes to Secrets Manager and is never shown again.

    \b
    cirrus data sources create orders --type postgresql --host db.internal --port 5432 \\
        --database shop --user reader --password-env PGPASSWORD
    cirrus data sources create --from-file orders.yaml
    """
    if password_env is not None and password_stdin:
        raise click.UsageError("Give the password with --password-env or --password-stdin, not both.")
    flags = {"--type": source_type, "--host": host, "--port": port, "--database": database, "--user": user}
    if from_file is not None:
        given = [flag for flag, value in flags.items() if value is not None]
        given += ["--connection"] if connection_items else []
        if given:
            raise click.UsageError(
                f"Give the connection in --from-file or as options, not both ({given[0]})."
            )
        body = _source_from_file(from_file, name)
    else:
        missing = [label for label, value in (("NAME", name), ("--type", source_type)) if value is None]
        if missing:
            raise click.UsageError(
                f"Give --from-file, or {' and '.join(missing)} with the connection options."
            )
        connection = {flag.removeprefix("--"): value for flag, value in flags.items() if value is not None}
        body = {
            "name": name,
            "type": connection.pop("type"),
            "connection": {**_connection_pairs(connection_items), **connection},
            "options": {},
        }
    if option_items:
        body["options"] = {**(body.get("options") or {}), **_pairs(option_items, "--option")}
    if description is not None:
        body["description"] = description
    password = _password(password_env, password_stdin)
    if password is not None:
        if "password" in body["connection"]:
            raise click.UsageError("The file already gives a password; drop --password-env/--password-stdin.")
        body["connection"]["password"] = password
    source = _call(ctx, lambda client: client.create_data_source(body))
    if as_json:
        _show_json(source)
        return
    click.echo(f"Created source {source.name}.")
    _show_source(source)


def _source_from_file(path: Path, name: str | None) -> dict[str, Any]:
    """A source file's body: NAME fills a missing name, `{"env": VAR}` values are resolved."""
    body = _read_document(path, "a data source")
    if name is not None and body.setdefault("name", name) != name:
        raise click.UsageError(f"NAME {name!r} differs from the file's name {body['name']!r}.")
    connection = body.get("connection")
    if not isinstance(connection, dict):
        raise click.BadParameter("the file needs a connection object", param_hint="--from-file")
    body["connection"] = _resolve_env_references(connection, "connection")
    if isinstance(body.get("options"), dict):
        body["options"] = _resolve_env_references(body["options"], "options")
    return body


def _connection_pairs(items: tuple[str, ...]) -> dict[str, Any]:
    """--connection KEY=VALUE items; a secret field is refused (it would sit in the shell's history)."""
    from cirrus_core.data.sources import ALL_SECRET_FIELDS

    connection = _pairs(items, "--connection")
    secret = sorted(set(connection) & ALL_SECRET_FIELDS)
    if secret:
        raise click.BadParameter(
            f"{secret[0]} is a secret: use --password-env or --password-stdin, or a file's "
            '{"env": "VARIABLE"} reference',
            param_hint="--connection",
        )
    return connection


def _password(variable: str | None, from_stdin: bool) -> str | None:
    """The password from the named environment variable or stdin's first line (None when neither)."""
    if variable is not None:
        value = os.environ.get(variable)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise click.UsageError(f"--password-env: the environment variable {variable} {state}.")
        return value
    if from_stdin:
        if sys.stdin.isatty():  # typed by hand: not echoed
            line = str(click.prompt("Password", hide_input=True, err=True))
        else:
            line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin: standard input holds no password.")
        return line
    return None


def _resolve_env_references(fields: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Fields whose value is `{"env": "VARIABLE"}` take that variable's value (a usage error if unset)."""
    resolved: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, dict) and set(value) == {"env"}:
            variable = value["env"]
            if not isinstance(variable, str) or not variable:
                raise click.BadParameter(f"{where}.{key}: env must name a variable", param_hint="--from-file")
            found = os.environ.get(variable)
            if not found:
                state = "is empty" if found == "" else "is not set"
                raise click.UsageError(
                    f"{where}.{key} reads the environment variable {variable}, which {state}."
                )
            value = found
        resolved[key] = value
    return resolved


def _show_source(source: SourceView) -> None:
    _fields(
        [
            ("name", source.name),
            ("type", str(source.type)),
            ("description", source.description or None),
            *((f"connection.{key}", value) for key, value in source.connection.items()),
            *((f"options.{key}", value) for key, value in source.options.items()),
            (
                "secrets",
                ", ".join(f"{name} (kept in Secrets Manager)" for name in source.secret_fields) or None,
            ),
            ("created", f"{source.created_at:%Y-%m-%d %H:%M:%S} by {source.created_by}"),
        ]
    )


def _where(source: SourceView) -> str:
    """A one-line location: host:port/database, bucket/prefix, a stream or a topic."""
    connection = source.connection
    if "host" in connection:
        place = f"{connection['host']}:{connection.get('port', '')}"
        database = connection.get("database") or connection.get("keyspace")
        return f"{place}/{database}" if database else place
    points = connection.get("contact_points")
    if isinstance(points, list):
        return f"{','.join(str(point) for point in points)}/{connection.get('keyspace', '')}"
    if "bucket" in connection:
        return f"s3://{connection['bucket']}/{connection.get('prefix', '')}"
    for key in ("stream_arn", "topic", "database"):
        if key in connection:
            return str(connection[key])
    return "-"


@sources.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", help="From the previous page.")
@json_option
@click.pass_context
def sources_list(ctx: click.Context, limit: int, next_token: str | None, as_json: bool) -> None:
    """List the data sources by name."""
    page = _call(ctx, lambda client: client.list_data_sources(limit=limit, next_token=next_token))
    if as_json:
        _show_json(page)
        return
    _table(
        ("NAME", "TYPE", "WHERE", "CREATED"),
        ((s.name, str(s.type), _where(s), s.created_at) for s in page.items),
        empty="No data sources.",
    )
    _more(page.next_token)


@sources.command("get")
@click.argument("name")
@json_option
@click.pass_context
def sources_get(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a source's connection parameters (its secrets are only named)."""
    source = _call(ctx, lambda client: client.get_data_source(name))
    if as_json:
        _show_json(source)
    else:
        _show_source(source)


@sources.command("delete")
@click.argument("name")
@click.pass_context
def sources_delete(ctx: click.Context, name: str) -> None:
    """Delete a source and schedule its secret's deletion (its datasets stay)."""
    _call(ctx, lambda client: client.delete_data_source(name))
    click.echo(f"Deleted source {name}.")


@sources.command("test")
@click.argument("name")
@json_option
@click.pass_context
def sources_test(ctx: click.Context, name: str, as_json: bool) -> None:
    """Connect to a source and run a trivial query; exit 1 unless it answers."""
    result = _call(ctx, lambda client: client.test_data_source(name))
    if as_json:
        _show_json(result)
    elif result.ok:
        latency = f"{result.latency_ms:.1f} ms" if result.latency_ms is not None else "-"
        click.echo(f"{name}: ok ({latency})")
    else:
        reason = f"{result.error.code}: {result.error.message}" if result.error else "no reason given"
        click.echo(f"{name}: not ok: {reason}", err=True)
    if not result.ok:
        sys.exit(1)


# ------------------------------------------------------------------------------------------ snapshots


@data.command("snapshot")
@click.argument("dataset")
@click.option("--source", required=True, help="The data source to read.")
@click.option("--table", help="SQL/CQL: a table (schema.table allowed); mongodb: the collection.")
@click.option("--query", help="postgresql, mysql: a SQL SELECT; cassandra: a CQL SELECT.")
@click.option("--filter", "filter_json", metavar="JSON", help="mongodb: a query filter document.")
@click.option("--projection", "projection_json", metavar="JSON", help="mongodb: the fields to return.")
@click.option("--prefix", help="s3: the s3://bucket/prefix/ whose objects are read.")
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "parquet", "jsonl"]), help="s3: the format."
)
@click.option(
    "--incremental-column",
    metavar="COLUMN",
    help="Read only the rows whose COLUMN is greater than the previous version's greatest (databases).",
)
@click.option("--description", help="Shown on the dataset version.")
@wait_options
@json_option
@click.pass_context
def snapshot(
    ctx: click.Context,
    dataset: str,
    source: str,
    table: str | None,
    query: str | None,
    filter_json: str | None,
    projection_json: str | None,
    prefix: str | None,
    file_format: str | None,
    incremental_column: str | None,
    description: str | None,
    wait: bool,
    timeout: float,
    interval: float,
    as_json: bool,
) -> None:
    """Read a source into the next version of DATASET (a job); --wait follows it to the end.

    \b
    cirrus data snapshot orders --source shop --table public.orders --wait
    cirrus data snapshot events --source mongo --table events --filter '{"kind": "click"}'
    cirrus data snapshot raw --source lake --prefix s3://data/raw/2024/ --format parquet
    """
    if table is not None and query is not None:
        raise click.UsageError("Give --table or --query, not both.")
    if prefix is not None and (table is not None or query is not None):
        raise click.UsageError("--prefix reads an s3 source: give it without --table or --query.")
    filter_document = _json_object(filter_json, "--filter")
    projection = _json_object(projection_json, "--projection")
    job = _call(
        ctx,
        lambda client: client.create_snapshot(
            dataset,
            source,
            table=table,
            query=query,
            filter=filter_document,
            projection=projection,
            prefix=prefix,
            format=file_format,
            incremental={"watermark_column": incremental_column} if incremental_column else None,
            description=description,
        ),
    )
    if not wait:
        if as_json:
            _show_json(job)
        else:
            click.echo(
                f"Snapshot job {job.job_id} started: version {job.version} of {dataset}, {job.status}."
            )
            click.echo(f"Follow it with: cirrus data datasets job {dataset} {job.job_id} --wait")
        return
    _finish_snapshot(ctx, dataset, job.job_id, timeout=timeout, interval=interval, as_json=as_json)


def _finish_snapshot(
    ctx: click.Context, dataset: str, job_id: str, *, timeout: float, interval: float, as_json: bool
) -> None:
    """Poll the job; print the version it made (or its error, exit 1)."""
    job = _poll(
        lambda: _call(ctx, lambda client: client.get_snapshot_job(dataset, job_id)),
        lambda answer: str(answer.status),
        what=f"Snapshot job {job_id}",
        timeout=timeout,
        interval=interval,
    )
    if str(job.status) != "succeeded":
        if as_json:
            _show_json(job)
        click.echo(f"Snapshot of {dataset} failed: {job.error or 'no reason given'}", err=True)
        sys.exit(1)
    version = _call(ctx, lambda client: client.get_dataset_version(dataset, job.version))
    if as_json:
        _show_json(version)
        return
    click.echo(f"Dataset {dataset} version {version.version}: {version.status}")
    _fields(
        [
            ("rows", version.row_count),
            ("content hash", version.content_hash),
            ("location", version.location),
            ("reference", version.reference),
        ]
    )


# ------------------------------------------------------------------------------------------ datasets


@data.group()
def datasets() -> None:
    """Datasets: named series of immutable, versioned Parquet snapshots."""


@datasets.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", help="From the previous page.")
@json_option
@click.pass_context
def datasets_list(ctx: click.Context, limit: int, next_token: str | None, as_json: bool) -> None:
    """List the datasets by name."""
    page = _call(ctx, lambda client: client.list_datasets(limit=limit, next_token=next_token))
    if as_json:
        _show_json(page)
        return
    _table(
        ("NAME", "KIND", "LATEST", "SOURCE", "CREATED"),
        ((d.name, str(d.kind), d.latest_version, d.source, d.created_at) for d in page.items),
        empty="No datasets.",
    )
    _more(page.next_token)


@datasets.command("get")
@click.argument("name")
@json_option
@click.pass_context
def datasets_get(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a dataset: what produces it and its latest version."""
    found = _call(ctx, lambda client: client.get_dataset(name))
    if as_json:
        _show_json(found)
        return
    _fields(
        [
            ("name", found.name),
            ("kind", str(found.kind)),
            ("description", found.description or None),
            ("source", found.source),
            ("latest version", found.latest_version),
            ("latest ready version", found.latest_ready_version or "none yet"),
            ("created", f"{found.created_at:%Y-%m-%d %H:%M:%S} by {found.created_by}"),
        ]
    )


@datasets.command("versions")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", help="From the previous page.")
@json_option
@click.pass_context
def datasets_versions(
    ctx: click.Context, name: str, limit: int, next_token: str | None, as_json: bool
) -> None:
    """List a dataset's versions, newest first."""
    page = _call(ctx, lambda client: client.list_dataset_versions(name, limit=limit, next_token=next_token))
    if as_json:
        _show_json(page)
        return
    _table(
        ("VERSION", "STATUS", "KIND", "ROWS", "CONTENT HASH", "CREATED"),
        (
            (v.version, str(v.status), str(v.kind), v.row_count, _short_hash(v.content_hash), v.created_at)
            for v in page.items
        ),
        empty=f"Dataset {name} has no version.",
    )
    _more(page.next_token)


def _short_hash(content_hash: str | None) -> str | None:
    return content_hash[: len("sha256:") + 12] if content_hash else None


@datasets.command("version")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@json_option
@click.pass_context
def datasets_version(ctx: click.Context, name: str, version: int, as_json: bool) -> None:
    """Show one version: its schema, rows, content hash, files and lineage."""
    found = _call(ctx, lambda client: client.get_dataset_version(name, version))
    if as_json:
        _show_json(found)
    else:
        _show_version(found)


def _show_version(version: DatasetVersion) -> None:
    lineage = version.lineage
    _fields(
        [
            ("dataset", version.dataset),
            ("version", version.version),
            ("status", str(version.status)),
            ("kind", str(version.kind)),
            ("rows", version.row_count),
            ("content hash", version.content_hash),
            ("location", version.location),
            ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S} by {version.created_by}"),
            ("failure", version.failure),
            ("source", lineage.source),
            ("query", lineage.query),
            (
                "watermark",
                f"{lineage.watermark.column} = {lineage.watermark.value}" if lineage.watermark else None,
            ),
            ("inputs", ", ".join(f"{i.dataset}@{i.version}" for i in lineage.inputs) or None),
            ("transformation", lineage.transformation),
            ("feature groups", ", ".join(f"{g.group}@{g.version}" for g in lineage.feature_groups) or None),
        ]
    )
    if version.columns:
        click.echo("")
        _table(("COLUMN", "TYPE", "NULLABLE"), ((c.name, c.type, c.nullable) for c in version.columns))
    if version.files:
        click.echo("")
        _table(("FILE", "ROWS", "BYTES"), ((f.key, f.rows, f.bytes) for f in version.files))


@datasets.command("sample")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Rows to show.")
@json_option
@click.pass_context
def datasets_sample(ctx: click.Context, name: str, version: int, limit: int, as_json: bool) -> None:
    """Print the first rows of a ready version as a table."""
    sample = _call(ctx, lambda client: client.dataset_sample(name, version, limit=limit))
    if as_json:
        _show_json(sample)
        return
    names = [column.name for column in sample.columns]
    _table(names, ([row.get(column) for column in names] for row in sample.rows), empty="No rows.")


@datasets.command("job")
@click.argument("name")
@click.argument("job_id")
@wait_options
@json_option
@click.pass_context
def datasets_job(
    ctx: click.Context, name: str, job_id: str, wait: bool, timeout: float, interval: float, as_json: bool
) -> None:
    """Show a snapshot job of dataset NAME; --wait follows it to the end."""
    if wait:
        _finish_snapshot(ctx, name, job_id, timeout=timeout, interval=interval, as_json=as_json)
        return
    job = _call(ctx, lambda client: client.get_snapshot_job(name, job_id))
    if as_json:
        _show_json(job)
        return
    _fields(
        [
            ("job", job.job_id),
            ("dataset", f"{job.dataset} version {job.version}"),
            ("status", str(job.status)),
            ("rows", job.row_count),
            ("error", job.error),
            ("started", f"{job.created_at:%Y-%m-%d %H:%M:%S} by {job.created_by}"),
            ("completed", job.completed_at),
        ]
    )
    if str(job.status) == "failed":
        sys.exit(1)


# ------------------------------------------------------------------------------------------ transformations


@data.group()
def transformations() -> None:
    """Transformations: SQL, Python or processor code that makes a dataset version from others."""


@transformations.command("put")
@click.argument("name")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The spec as JSON or YAML: {inputs, output, runtime?, sql | python | processor, parameters?}.",
)
@json_option
@click.pass_context
def transformations_put(ctx: click.Context, name: str, from_file: Path, as_json: bool) -> None:
    """Declare transformation NAME from a spec file, or replace it (its revision goes up).

    \b
    A Python transformation's module may be given as python.module_file: a path, relative to the spec,
    whose text is sent as python.module.
    """
    spec = _read_document(from_file, "a transformation spec")
    python = spec.get("python")
    if isinstance(python, dict) and "module_file" in python:
        if "module" in python:
            raise click.BadParameter(
                "give python.module or python.module_file, not both", param_hint="--from-file"
            )
        module_path = from_file.parent / str(python.pop("module_file"))
        try:
            python["module"] = module_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise click.BadParameter(
                f"cannot read {module_path}: {error}", param_hint="--from-file"
            ) from error
    stored = _call(ctx, lambda client: client.put_transformation(name, spec))
    if as_json:
        _show_json(stored)
        return
    click.echo(f"Stored transformation {stored.name} (revision {stored.revision}).")
    _show_transformation(stored)


@transformations.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", help="From the previous page.")
@json_option
@click.pass_context
def transformations_list(ctx: click.Context, limit: int, next_token: str | None, as_json: bool) -> None:
    """List the transformations by name."""
    page = _call(ctx, lambda client: client.list_transformations(limit=limit, next_token=next_token))
    if as_json:
        _show_json(page)
        return
    _table(
        ("NAME", "KIND", "RUNTIME", "OUTPUT", "REVISION", "UPDATED"),
        (
            (t.name, str(t.kind), str(t.runtime), t.output.dataset, t.revision, t.updated_at)
            for t in page.items
        ),
        empty="No transformations.",
    )
    _more(page.next_token)


@transformations.command("get")
@click.argument("name")
@json_option
@click.pass_context
def transformations_get(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a transformation: its inputs, output, runtime and code."""
    found = _call(ctx, lambda client: client.get_transformation(name))
    if as_json:
        _show_json(found)
    else:
        _show_transformation(found)


def _show_transformation(found: Transformation) -> None:
    _fields(
        [
            ("name", found.name),
            ("description", found.description or None),
            ("kind", str(found.kind)),
            ("runtime", str(found.runtime)),
            *((f"input {alias}", reference) for alias, reference in found.inputs.items()),
            ("output", f"dataset:{found.output.dataset}"),
            ("processor", found.processor.name if found.processor else None),
            ("python", f"{found.python.key} ({found.python.entrypoint})" if found.python else None),
            ("parameters", found.parameters or None),
            ("code hash", found.code_hash),
            ("revision", found.revision),
            ("updated", f"{found.updated_at:%Y-%m-%d %H:%M:%S} by {found.updated_by}"),
        ]
    )
    if found.sql:
        click.echo("sql:")
        for line in found.sql.strip().splitlines():
            click.echo(f"  {line}")


@transformations.command("run")
@click.argument("name")
@wait_options
@json_option
@click.pass_context
def transformations_run(
    ctx: click.Context, name: str, wait: bool, timeout: float, interval: float, as_json: bool
) -> None:
    """Run a transformation: pin its inputs, make its output's next version; --wait follows it."""
    run = _call(ctx, lambda client: client.run_transformation(name))
    if wait:
        run = _poll(
            lambda: _call(ctx, lambda client: client.get_transformation_run(name, run.run_id)),
            lambda answer: str(answer.status),
            what=f"Run {run.run_id} of {name}",
            timeout=timeout,
            interval=interval,
        )
    if as_json:
        _show_json(run)
    else:
        click.echo(f"Run {run.run_id} of {name}: {run.status}")
        _fields(
            [
                ("inputs", ", ".join(i.reference for i in run.inputs) or None),
                ("output", run.output.reference),
                ("rows", run.row_count),
                ("content hash", run.content_hash),
            ]
        )
    if str(run.status) == "failed":
        click.echo(f"Run {run.run_id} of {name} failed: {run.failure or 'no reason given'}", err=True)
        sys.exit(1)


# ------------------------------------------------------------------------------------------ features


@data.group()
def features() -> None:
    """The feature store: feature groups, ingestion, materialisation and online reads."""


@features.command("put")
@click.argument("group")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The definition as JSON or YAML: {entity_key, event_time, features, owner, description?, tags?}.",
)
@click.option(
    "--new-version", is_flag=True, help="Accept a breaking change (a removed feature, a changed type)."
)
@json_option
@click.pass_context
def features_put(ctx: click.Context, group: str, from_file: Path, new_version: bool, as_json: bool) -> None:
    """Create feature group GROUP, or store its definition's next version.

    An added feature makes a compatible version; a breaking change is refused unless --new-version.
    """
    definition = _read_document(from_file, "a feature group definition")
    if definition.get("name", group) != group:
        raise click.UsageError(f"GROUP {group!r} differs from the file's name {definition['name']!r}.")
    stored = _call(ctx, lambda client: client.put_feature_group(group, definition, new_version=new_version))
    if as_json:
        _show_json(stored)
        return
    since = stored.compatible_since
    verdicts = {
        "created": f"Created feature group {group} (version {stored.version}).",
        "unchanged": f"Feature group {group} is unchanged (version {stored.version}).",
        "additive": f"Stored version {stored.version} of {group}, compatible since {since}.",
        "breaking": f"Stored version {stored.version} of {group}: a breaking change, a new line.",
    }
    click.echo(verdicts.get(str(stored.change), f"{group}: version {stored.version} ({stored.change})."))
    if stored.changes:
        _table(
            ("CHANGE", "FEATURE", "FROM", "TO"),
            ((str(c.change), c.feature, c.from_, c.to) for c in stored.changes),
        )


@features.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", help="From the previous page.")
@json_option
@click.pass_context
def features_list(ctx: click.Context, limit: int, next_token: str | None, as_json: bool) -> None:
    """List the feature groups by name."""
    page = _call(ctx, lambda client: client.list_feature_groups(limit=limit, next_token=next_token))
    if as_json:
        _show_json(page)
        return
    _table(
        ("GROUP", "VERSION", "ENTITY KEY", "FEATURES", "OWNER", "DATA", "UPDATED"),
        (
            (g.name, g.latest_version, g.entity_key, g.feature_count, g.owner, g.has_data, g.updated_at)
            for g in page.items
        ),
        empty="No feature groups.",
    )
    _more(page.next_token)


@features.command("get")
@click.argument("group")
@json_option
@click.pass_context
def features_get(ctx: click.Context, group: str, as_json: bool) -> None:
    """Show a feature group and its latest version's features."""
    found = _call(ctx, lambda client: client.get_feature_group(group))
    if as_json:
        _show_json(found)
        return
    definition = found.latest.definition
    _fields(
        [
            ("group", found.name),
            ("description", found.description or None),
            ("owner", found.owner),
            ("latest version", found.latest_version),
            ("compatible since", found.latest.compatible_since),
            ("entity key", f"{definition.entity_key.name} ({definition.entity_key.type})"),
            ("event time", definition.event_time),
            ("has data", found.has_data),
            ("tags", definition.tags or None),
            ("updated", f"{found.updated_at:%Y-%m-%d %H:%M:%S} by {found.updated_by}"),
        ]
    )
    click.echo("")
    _table(
        ("FEATURE", "TYPE", "NULLABLE", "DESCRIPTION"),
        ((f.name, f.type_label, f.nullable, f.description) for f in definition.features),
    )


@features.command("ingest")
@click.argument("group")
@click.option(
    "--dataset",
    required=True,
    help="The dataset version to ingest: dataset:<name>@<version> (or its latest).",
)
@click.option(
    "--group-version", type=click.IntRange(min=1), help="Write at this group version (default latest)."
)
@wait_options
@json_option
@click.pass_context
def features_ingest(
    ctx: click.Context,
    group: str,
    dataset: str,
    group_version: int | None,
    wait: bool,
    timeout: float,
    interval: float,
    as_json: bool,
) -> None:
    """Ingest a ready dataset version into GROUP's offline store; --wait follows the job."""
    job = _call(ctx, lambda client: client.ingest_features(group, dataset, version=group_version))
    if wait:
        job = _poll(
            lambda: _call(ctx, lambda client: client.get_ingestion(group, job.ingestion_id)),
            lambda answer: str(answer.status),
            what=f"Ingestion {job.ingestion_id}",
            timeout=timeout,
            interval=interval,
        )
    if as_json:
        _show_json(job)
    else:
        click.echo(f"Ingestion {job.ingestion_id} into {group} version {job.version}: {job.status}")
        _fields([("dataset", f"dataset:{job.dataset}@{job.dataset_version}"), ("rows", job.rows)])
    if str(job.status) == "failed":
        click.echo(f"Ingestion {job.ingestion_id} failed: {job.failure or 'no reason given'}", err=True)
        for problem in job.problems:
            click.echo(f"  {problem.get('column', '?')}: {problem.get('message', problem)}", err=True)
        sys.exit(1)


@features.command("materialize")
@click.argument("group")
@click.option(
    "--group-version", type=click.IntRange(min=1), help="Read at this group version (default latest)."
)
@wait_options
@json_option
@click.pass_context
def features_materialize(
    ctx: click.Context,
    group: str,
    group_version: int | None,
    wait: bool,
    timeout: float,
    interval: float,
    as_json: bool,
) -> None:
    """Copy every entity's latest offline row of GROUP to the online store; --wait follows the job."""
    job = _call(ctx, lambda client: client.materialize_features(group, version=group_version))
    if wait:
        job = _poll(
            lambda: _call(ctx, lambda client: client.get_materialization(group, job.materialization_id)),
            lambda answer: str(answer.status),
            what=f"Materialization {job.materialization_id}",
            timeout=timeout,
            interval=interval,
        )
    if as_json:
        _show_json(job)
    else:
        click.echo(f"Materialization {job.materialization_id} of {group} version {job.version}: {job.status}")
        _fields([("entities", job.entities), ("written", job.written), ("skipped (older)", job.skipped)])
    if str(job.status) == "failed":
        click.echo(
            f"Materialization {job.materialization_id} failed: {job.failure or 'no reason given'}", err=True
        )
        sys.exit(1)


@features.command("online")
@click.argument("group")
@click.option("--entity", required=True, help="The entity's key (a composite key joins its values with |).")
@click.option("--feature", "names", multiple=True, help="Only this feature (repeatable; default all).")
@json_option
@click.pass_context
def features_online(
    ctx: click.Context, group: str, entity: str, names: tuple[str, ...], as_json: bool
) -> None:
    """Read an entity's latest feature values from the online store."""
    found = _call(ctx, lambda client: client.online_features(group, entity, features=names))
    if as_json:
        _show_json(found)
        return
    click.echo(
        f"{group} / {found.entity} (version {found.version}, event time {found.event_time.isoformat()})"
    )
    _table(("FEATURE", "VALUE"), sorted(found.features.items()), empty="No feature values.")


# ------------------------------------------------------------------------------------------ training sets


@data.group("training-sets")
def training_sets() -> None:
    """Point-in-time training sets: labels joined with the feature values known at each label's time."""


@training_sets.command("create")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The request as JSON or YAML: {dataset, labels: {dataset, label_time}, feature_groups: [...]}.",
)
@wait_options
@json_option
@click.pass_context
def training_sets_create(
    ctx: click.Context, from_file: Path, wait: bool, timeout: float, interval: float, as_json: bool
) -> None:
    """Build a training set as the next version of its dataset; --wait follows the build."""
    request = _read_document(from_file, "a training set request")
    built = _call(ctx, lambda client: client.create_training_set(request))
    if wait:
        built = _poll(
            lambda: _call(ctx, lambda client: client.get_training_set(built.training_set_id)),
            lambda answer: str(answer.status),
            what=f"Training set {built.training_set_id}",
            timeout=timeout,
            interval=interval,
            finished=frozenset({"ready", "failed"}),
        )
    _show_training_set(built, as_json)


@training_sets.command("get")
@click.argument("training_set_id")
@json_option
@click.pass_context
def training_sets_get(ctx: click.Context, training_set_id: str, as_json: bool) -> None:
    """Show a training set: what it joins, and the dataset version it became."""
    _show_training_set(_call(ctx, lambda client: client.get_training_set(training_set_id)), as_json)


def _show_training_set(found: TrainingSet, as_json: bool) -> None:
    if as_json:
        _show_json(found)
    else:
        _fields(
            [
                ("training set", found.training_set_id),
                ("status", str(found.status)),
                ("dataset", found.reference or f"dataset:{found.dataset} (version not yet allocated)"),
                (
                    "labels",
                    f"dataset:{found.labels.dataset}@{found.labels.version} at {found.labels.label_time}",
                ),
                ("rows", found.row_count),
                ("content hash", found.content_hash),
                ("created", f"{found.created_at:%Y-%m-%d %H:%M:%S} by {found.created_by}"),
            ]
        )
        _table(
            ("GROUP", "VERSION", "FEATURES", "ENTITY COLUMN", "MAX AGE"),
            (
                (g.group, g.version, ", ".join(g.output_columns()), g.entity_column, g.max_age)
                for g in found.feature_groups
            ),
        )
    if str(found.status) == "failed":
        click.echo(
            f"Training set {found.training_set_id} failed: {found.failure or 'no reason given'}", err=True
        )
        sys.exit(1)
