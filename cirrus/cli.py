"""The `cirrus` command: the local cloud, the registry client and the demo.

Client commands find the API from --endpoint-url / CIRRUS_API_URL, or from a running `cirrus local up`
(its state file); the token from --token / CIRRUS_TOKEN, or from the local cloud with --role.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cirrus import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pydantic import BaseModel

    from cirrus.client import CirrusClient
    from cirrus_core.metrics.models import MetricHistory
    from cirrus_core.pipelines.models import RunDetail
    from cirrus_core.serving.deployment_models import Deployment

ROLES = ("ml_engineer", "data_scientist", "model_reviewer", "admin")
ENVIRONMENTS = ("dev", "staging", "prod")


def main() -> None:
    """Console entry point."""
    cli(prog_name="cirrus")


@click.group()
@click.version_option(__version__, prog_name="cirrus")
def cli() -> None:
    """Cirrus: a serverless MLOps platform for AWS, and its local cloud."""


# ------------------------------------------------------------------------------------------ local


@cli.group()
def local() -> None:
    """Run Cirrus on this machine: no AWS account, no Docker."""


@local.command("up")
@click.option("--port", default=3000, show_default=True, help="Port of the local API gateway.")
@click.option(
    "--aws-port", default=4566, show_default=True, help="Port of the AWS emulator (boto3, AWS CLI)."
)
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The folder holding template.yaml.",
)
@click.option(
    "--allow-receiver",
    "receivers",
    multiple=True,
    callback=lambda _ctx, _param, values: tuple(_local_origin(value) for value in values),
    metavar="http://127.0.0.1:PORT",
    help="A local origin notification channels may point at (repeatable); other loopback stays refused.",
)
def local_up(port: int, aws_port: int, project_dir: Path, receivers: tuple[str, ...]) -> None:
    """Start the emulator, deploy template.yaml, create a user per role; run until Ctrl-C."""
    from cirrus.localcloud.cloud import LocalCloud

    cloud = LocalCloud(project_dir.resolve(), api_port=port, aws_port=aws_port, local_receivers=receivers)
    with _spinner("Starting the local cloud") as step:
        info = cloud.start(progress=step)
    click.echo(info.describe())
    try:
        with sigterm_as_interrupt():
            cloud.wait()
    except KeyboardInterrupt:
        click.echo("\nStopping the local cloud...")
    finally:
        cloud.stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (`kill`, a service manager, a CI job's end) stops like Ctrl-C.

    Python's default SIGTERM ends the process without running `finally`, which would leave the model
    servers' processes and `.cirrus/local.json` behind for the next `cirrus local` command to trip on.
    """

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _local_origin(value: str) -> str:
    """A loopback http origin (the only kind a channel may use unchecked), or a usage error."""
    import re

    if not re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}", value):
        raise click.BadParameter(
            f"{value!r} is not a loopback origin such as http://127.0.0.1:9000", param_hint="--allow-receiver"
        )
    return value


@local.command("receiver")
@click.option("--port", default=9000, show_default=True, help="Port on 127.0.0.1 to listen on.")
@click.option(
    "--secret",
    envvar="CIRRUS_WEBHOOK_SECRET",
    default=None,
    help="The webhook channel's whsec_ secret, to check each delivery's signature (CIRRUS_WEBHOOK_SECRET).",
)
def local_receiver(port: int, secret: str | None) -> None:
    """Receive notifications locally and print them (start the local cloud with --allow-receiver).

    Point a channel at http://127.0.0.1:PORT/<any path>; each POST is answered 200 and printed, with its
    Standard Webhooks signature checked when --secret is given. Ctrl-C stops.
    """
    import time

    from cirrus.localcloud.receiver import Received, start_receiver
    from cirrus_core.monitoring.destinations import verify

    def show(received: Received) -> None:
        line = f"POST {received.path}  {len(received.body)} bytes"
        if secret and "webhook-signature" in received.headers:
            ok = verify(secret, received.headers, received.body, now=int(time.time()))
            line += "  signature " + ("verified" if ok else "DOES NOT VERIFY")
        click.echo(line)
        try:
            click.echo(json.dumps(json.loads(received.body), indent=2))
        except ValueError:
            click.echo(received.body.decode("utf-8", "replace"))

    receiver = start_receiver(port, on_receive=show)
    click.echo(
        f"Receiving on {receiver.origin} (allow it: cirrus local up --allow-receiver {receiver.origin})"
    )
    try:
        # Short sleeps, not one unbounded wait: Ctrl-C reaches the main thread promptly.
        with sigterm_as_interrupt():
            while True:
                time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        receiver.stop()


@local.command("token")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Whose ID token to print.")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def local_token(role: str, project_dir: Path) -> None:
    """Print an ID token for the local user of a role (use as `Authorization: Bearer ...`)."""
    from cirrus.localcloud.cloud import LocalCloudState

    try:
        click.echo(LocalCloudState.load(project_dir.resolve()).token(role))
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error


STATUS_FIELDS = (
    "api_url",
    "aws_endpoint_url",
    "artifact_bucket",
    "user_pool_id",
    "client_id",
    "region",
    "ci_client_id",
    "ci_client_secret",
    "token_url",
)


@local.command("status")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--field", type=click.Choice(STATUS_FIELDS), help="Print only this value (for scripts).")
def local_status(project_dir: Path, field: str | None) -> None:
    """Say whether a local cloud is running and where."""
    from cirrus.localcloud.cloud import LocalCloudState

    state = LocalCloudState.find(project_dir.resolve())
    if state is None or not state.is_running():
        click.echo("No local cloud is running here. Start one with `cirrus local up`.", err=True)
        sys.exit(1)
    click.echo(getattr(state, field) if field else state.describe())


# ------------------------------------------------------------------------------------------ models


def api_options(
    default_role: str | None = None, role_note: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every API command group takes: where the API is, and as whom to call it."""
    role_help = "Local cloud only: act as this role's user" + (f" ({role_note})." if role_note else ".")

    def decorate(group: Callable[..., Any]) -> Callable[..., Any]:
        group = click.option(
            "--role",
            type=click.Choice(ROLES),
            default=default_role,
            show_default=default_role is not None,
            help=role_help,
        )(group)
        group = click.option("--token", envvar="CIRRUS_TOKEN", help="Cognito ID token.")(group)
        return click.option(
            "--endpoint-url",
            "--api-url",
            "api_url",
            envvar="CIRRUS_API_URL",
            help="The API's base URL, e.g. a deployed stage's (default: the running local cloud).",
        )(group)

    return decorate


@cli.group()
@api_options()
@click.pass_context
def models(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """The model registry."""
    ctx.obj = _ClientFactory(api_url, token, role)


class _ClientFactory:
    def __init__(self, api_url: str | None, token: str | None, role: str | None) -> None:
        self.api_url, self.token, self.role = api_url, token, role

    def __call__(self) -> CirrusClient:
        from cirrus.client import CirrusClient

        api_url, token = self.api_url, self.token
        if api_url is None or (token is None and self.role is not None):
            from cirrus.localcloud.cloud import LocalCloudState

            state = LocalCloudState.find(Path.cwd())
            if state is None:
                raise click.UsageError(
                    "No --endpoint-url given and no local cloud running here (`cirrus local up`)."
                )
            api_url = api_url or state.api_url
            if token is None:
                token = state.token(self.role or "ml_engineer")
        return CirrusClient(api_url, token)

    def feed(self, feed_url: str | None) -> tuple[str, str]:
        """The live feed's URL and the token to connect with (the local cloud's unless given)."""
        token = self.token
        if feed_url is None or (token is None and self.role is not None) or token is None:
            from cirrus.localcloud.cloud import LocalCloudState

            state = LocalCloudState.find(Path.cwd())
            if state is None:
                raise click.UsageError(
                    "No --feed-url given and no local cloud running here (`cirrus local up`)."
                )
            if not state.websocket_url and feed_url is None:
                raise click.UsageError("The running local cloud serves no live feed.")
            feed_url = feed_url or state.websocket_url
            if token is None:
                token = state.token(self.role or "ml_engineer")
        return feed_url, token


def _run(ctx: click.Context, call: Callable[[CirrusClient], BaseModel]) -> None:
    from cirrus.client import CirrusApiError

    try:
        result = call(ctx.find_object(_ClientFactory)())  # type: ignore[misc]
    except CirrusApiError as error:
        click.echo(
            json.dumps(
                {
                    "status": error.status,
                    "code": error.code,
                    "message": error.message,
                    "details": error.details,
                },
                indent=2,
            ),
            err=True,
        )
        sys.exit(1)
    click.echo(result.model_dump_json(indent=2))


def _pairs(values: tuple[str, ...], what: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=what)
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


@models.command("register")
@click.argument("model_name", required=False)
@click.option(
    "--file", "payload_file", type=click.File(), help="A JSON registration payload (the spec's shape)."
)
@click.option("--type", "model_type", help="Model type, e.g. xgboost or sklearn.")
@click.option("--framework-version")
@click.option("--dataset-version")
@click.option("--artifact", "artifact_location", help="s3:// URI of model.tar.gz.")
@click.option("--metric", multiple=True, help="name=value, repeatable.")
@click.option("--param", multiple=True, help="Hyperparameter name=value, repeatable.")
@click.option("--parent-version", type=int)
@click.option("--description", default="")
@click.pass_context
def register(
    ctx: click.Context,
    model_name: str | None,
    payload_file: Any,
    model_type: str | None,
    framework_version: str | None,
    dataset_version: str | None,
    artifact_location: str | None,
    metric: tuple[str, ...],
    param: tuple[str, ...],
    parent_version: int | None,
    description: str,
) -> None:
    """Register the next version of MODEL_NAME (or of the model named in --file)."""
    if payload_file is not None:
        payload = json.load(payload_file)
    else:
        missing = [
            name
            for name, value in (
                ("MODEL_NAME", model_name),
                ("--type", model_type),
                ("--framework-version", framework_version),
                ("--dataset-version", dataset_version),
                ("--artifact", artifact_location),
            )
            if not value
        ]
        if missing:
            raise click.UsageError(f"Give --file, or all of: {', '.join(missing)}")
        payload = {
            "model_name": model_name,
            "model_type": model_type,
            "framework_version": framework_version,
            "artifact_location": artifact_location,
            "description": description,
            "training_metadata": {
                "dataset_version": dataset_version,
                "metrics": _pairs(metric, "--metric"),
                "hyperparameters": _pairs(param, "--param"),
            },
        }
        if parent_version is not None:
            payload["parent_version"] = parent_version
    _run(ctx, lambda client: client.register_model(payload))


@models.command("list")
@click.option("--prefix", default="")
@click.option("--limit", default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def list_models(ctx: click.Context, prefix: str, limit: int, next_token: str | None) -> None:
    """List models."""
    _run(ctx, lambda client: client.list_models(prefix, limit=limit, next_token=next_token))


@models.command("get")
@click.argument("model_id")
@click.pass_context
def get_model(ctx: click.Context, model_id: str) -> None:
    """Show a model, its aliases and its latest version."""
    _run(ctx, lambda client: client.get_model(model_id))


@models.command("versions")
@click.argument("model_id")
@click.option("--status", type=click.Choice(["PendingManualApproval", "Approved", "Rejected"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def versions(
    ctx: click.Context, model_id: str, status: str | None, limit: int, next_token: str | None
) -> None:
    """List a model's versions, newest first."""
    _run(
        ctx, lambda client: client.list_versions(model_id, status=status, limit=limit, next_token=next_token)
    )


@models.command("lineage")
@click.argument("model_id")
@click.option("--version", type=int)
@click.pass_context
def lineage(ctx: click.Context, model_id: str, version: int | None) -> None:
    """Show where a model's versions came from."""
    _run(ctx, lambda client: client.lineage(model_id, version))


def _review_command(name: str, method: str, help_text: str) -> None:
    @models.command(name, help=help_text)
    @click.argument("model_id")
    @click.argument("version", type=int)
    @click.option("--comment", default="")
    @click.pass_context
    def command(ctx: click.Context, model_id: str, version: int, comment: str) -> None:
        _run(ctx, lambda client: getattr(client, method)(model_id, version, comment))


_review_command("request-review", "request_review", "Ask reviewers to approve or reject a version.")
_review_command("approve", "approve", "Approve a pending version.")
_review_command("reject", "reject", "Reject a pending version.")


@models.command("promote")
@click.argument("model_id")
@click.argument("version", type=int)
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), required=True)
@click.option("--reason", default="")
@click.pass_context
def promote(ctx: click.Context, model_id: str, version: int, environment: str, reason: str) -> None:
    """Point an environment's alias at VERSION."""
    _run(ctx, lambda client: client.promote(model_id, version, environment, reason))


@models.command("rollback")
@click.argument("model_id")
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), required=True)
@click.option("--reason", default="")
@click.pass_context
def rollback(ctx: click.Context, model_id: str, environment: str, reason: str) -> None:
    """Move an environment's alias back to the version it held before."""
    _run(ctx, lambda client: client.rollback(model_id, environment, reason))


@models.command("history")
@click.argument("model_id")
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), required=True)
@click.pass_context
def history(ctx: click.Context, model_id: str, environment: str) -> None:
    """Show how an environment's alias moved, newest first."""
    _run(ctx, lambda client: client.promotions(model_id, environment))


@models.command("retire")
@click.argument("model_id")
@click.option("--version", type=int, help="Retire only this version.")
@click.pass_context
def retire(ctx: click.Context, model_id: str, version: int | None) -> None:
    """Retire a version, or the whole model."""
    _run(ctx, lambda client: client.retire(model_id, version))


# ------------------------------------------------------------------------------------------ audit


@cli.group()
@api_options(default_role="model_reviewer", role_note="admin and model_reviewer read the trail")
@click.pass_context
def audit(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """The audit trail: records of every change, read and denial, in a verifiable hash chain."""
    ctx.obj = _ClientFactory(api_url, token, role)


@audit.command("list")
@click.option("--actor")
@click.option("--action")
@click.option("--resource", help="e.g. model/<id> or model/<id>/version/<n>.")
@click.option("--since", type=click.DateTime(), help="At or after this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Before this time (UTC).")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def audit_list(
    ctx: click.Context,
    actor: str | None,
    action: str | None,
    resource: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    next_token: str | None,
) -> None:
    """Audit records, newest first."""

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    _run(
        ctx,
        lambda client: client.audit(
            actor=actor,
            action=action,
            resource=resource,
            since=utc(since),
            until=utc(until),
            limit=limit,
            next_token=next_token,
        ),
    )


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Walk the chain against its latest signed anchor; exits 2 when it is not intact."""

    reports: list[bool] = []

    def verify(client: CirrusClient) -> BaseModel:
        report = client.verify_audit()
        reports.append(report.intact)
        return report

    _run(ctx, verify)
    if not all(reports):
        sys.exit(2)


# ------------------------------------------------------------------------------------------ pipelines

RUN_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


@cli.group()
@api_options(role_note="admin defines pipelines; default ml_engineer")
@click.pass_context
def pipelines(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Pipelines: define them, start, schedule, follow, cancel and retry runs."""
    ctx.obj = _ClientFactory(api_url, token, role)


@pipelines.command("create")
@click.argument("definition_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def pipelines_create(ctx: click.Context, definition_file: Path) -> None:
    """Define a pipeline from a JSON or YAML file (or store the next version of its definition)."""
    definition = _load_document(definition_file)
    _run(ctx, lambda client: client.put_pipeline(definition))


@pipelines.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def pipelines_list(ctx: click.Context, limit: int, next_token: str | None) -> None:
    """List pipelines, the built-in `training` pipeline among them."""
    _run(ctx, lambda client: client.list_pipelines(limit=limit, next_token=next_token))


@pipelines.command("get")
@click.argument("pipeline_id")
@click.option("--version", type=int, help="A stored version of the definition (default: the current one).")
@click.pass_context
def pipelines_get(ctx: click.Context, pipeline_id: str, version: int | None) -> None:
    """Show a pipeline: its definition, versions, triggers and state machine."""
    _run(ctx, lambda client: client.get_pipeline(pipeline_id, version))


@pipelines.command("execute")
@click.argument("pipeline_id")
@click.option("--param", multiple=True, help="A run parameter name=value (JSON values parsed), repeatable.")
@click.option("--schedule", "cron", help="Schedule runs on this cron expression (`0 2 * * *`) instead.")
@click.option("--timezone", default="UTC", show_default=True, help="The schedule's IANA time zone.")
@click.pass_context
def pipelines_execute(
    ctx: click.Context, pipeline_id: str, param: tuple[str, ...], cron: str | None, timezone: str
) -> None:
    """Start a run of PIPELINE_ID now, or schedule runs with --schedule."""
    parameters = _pairs(param, "--param")
    if cron is not None:
        _run(ctx, lambda client: client.schedule_pipeline(pipeline_id, cron, parameters, timezone=timezone))
    else:
        _run(ctx, lambda client: client.execute_pipeline(pipeline_id, parameters))


@pipelines.command("runs")
@click.argument("pipeline_id")
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def pipelines_runs(
    ctx: click.Context, pipeline_id: str, status: str | None, limit: int, next_token: str | None
) -> None:
    """List a pipeline's runs, newest first."""
    _run(ctx, lambda client: client.list_runs(pipeline_id, status=status, limit=limit, next_token=next_token))


@pipelines.command("status")
@click.argument("pipeline_id")
@click.argument("run_id")
@click.option("--follow", is_flag=True, help="Print each step's status as it changes until the run ends.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def pipelines_status(
    ctx: click.Context, pipeline_id: str, run_id: str, follow: bool, interval: float
) -> None:
    """Show a run step by step; with --follow, exit 1 unless it succeeds."""
    if not follow:
        _run(ctx, lambda client: client.get_run(pipeline_id, run_id))
        return
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    shown: dict[str, str] = {}
    while True:
        try:
            run = client.get_run(pipeline_id, run_id)
        except CirrusApiError as error:
            _print_api_error(error)
            sys.exit(1)
        _print_step_changes(run, shown)
        if run.status != "RUNNING":
            break
        _sleep(interval)
    click.echo(f"Run {run.run_id}: {run.status}")
    if run.failure is not None:
        where = f" at {run.failure.step}" if run.failure.step else ""
        click.echo(f"  failed{where}: {run.failure.error or ''} {run.failure.cause or ''}".rstrip(), err=True)
    if run.registration is not None:
        click.echo(f"  registered {run.registration.model_id} version {run.registration.version}")
    sys.exit(0 if run.status == "SUCCEEDED" else 1)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _print_step_changes(run: RunDetail, shown: dict[str, str]) -> None:
    """One line per step whose status changed since the last poll (pending steps not yet shown)."""
    for step in run.steps:
        status = str(step.status)
        if shown.get(step.name, "Pending") == status:
            continue
        shown[step.name] = status
        line = f"{step.name}: {status}"
        if step.error or step.cause:
            line += f" ({': '.join(part for part in (step.error, step.cause) if part)})"
        click.echo(line)


@pipelines.command("cancel")
@click.argument("pipeline_id")
@click.argument("run_id")
@click.pass_context
def pipelines_cancel(ctx: click.Context, pipeline_id: str, run_id: str) -> None:
    """Stop a running run."""
    _run(ctx, lambda client: client.cancel_run(pipeline_id, run_id))


@pipelines.command("retry")
@click.argument("pipeline_id")
@click.argument("run_id")
@click.pass_context
def pipelines_retry(ctx: click.Context, pipeline_id: str, run_id: str) -> None:
    """Start a new run with a failed, timed-out or cancelled run's input."""
    _run(ctx, lambda client: client.retry_run(pipeline_id, run_id))


@pipelines.command("schedules")
@click.argument("pipeline_id")
@click.pass_context
def pipelines_schedules(ctx: click.Context, pipeline_id: str) -> None:
    """List the schedules that start a pipeline's runs."""
    _run(ctx, lambda client: client.list_schedules(pipeline_id))


@pipelines.command("unschedule")
@click.argument("pipeline_id")
@click.argument("schedule_name")
@click.pass_context
def pipelines_unschedule(ctx: click.Context, pipeline_id: str, schedule_name: str) -> None:
    """Delete one of a pipeline's schedules."""
    from cirrus.client import CirrusApiError

    try:
        ctx.find_object(_ClientFactory)().delete_schedule(pipeline_id, schedule_name)  # type: ignore[misc]
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(f"Deleted schedule {schedule_name}.")


def _load_document(path: Path) -> dict[str, Any]:
    """A JSON or YAML file holding one object."""
    import yaml

    text = path.read_text()
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise click.BadParameter(f"{path} is not valid JSON or YAML: {error}", param_hint="FILE") from error
    if not isinstance(document, dict):
        raise click.BadParameter(f"{path} must hold one object (a pipeline definition)", param_hint="FILE")
    return document


def _print_api_error(error: Any) -> None:
    click.echo(
        json.dumps(
            {"status": error.status, "code": error.code, "message": error.message, "details": error.details},
            indent=2,
        ),
        err=True,
    )


# ------------------------------------------------------------------------------------------ edge

EDGE_FRAMEWORKS = ("SKLEARN", "XGBOOST", "PYTORCH", "TENSORFLOW", "ONNX", "TFLITE", "MXNET", "KERAS")


@cli.group()
@api_options()
@click.pass_context
def edge(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Edge packages: Neo-compiled models as signed IoT Greengrass v2 components."""
    ctx.obj = _ClientFactory(api_url, token, role)


def _target_platform(value: str | None) -> dict[str, str] | None:
    """`LINUX/ARM64[/NVIDIA]` as the API's target_platform."""
    if value is None:
        return None
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise click.BadParameter("use OS/ARCH or OS/ARCH/ACCELERATOR, e.g. LINUX/ARM64/NVIDIA")
    return dict(zip(("os", "arch", "accelerator"), parts, strict=False))


@edge.command("package")
@click.argument("model_id")
@click.option("--version", "version", type=int, required=True, help="An approved version.")
@click.option("--target-device", help="A Neo edge device, e.g. rasp3b or jetson_nano.")
@click.option("--target-platform", help="OS/ARCH[/ACCELERATOR], e.g. LINUX/ARM64/NVIDIA.")
@click.option("--framework", type=click.Choice(EDGE_FRAMEWORKS), required=True)
@click.option("--framework-version", help="Neo's FrameworkVersion (MXNET, PYTORCH, TENSORFLOW, TFLITE).")
@click.option("--input-shape", required=True, help="Neo's DataInputConfig: a JSON object of input -> shape.")
@click.option("--component-name", help="The Greengrass component's name (default com.cirrus.<model>).")
@click.option("--follow", is_flag=True, help="Wait until the package is ready or failed; exit 1 if failed.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def edge_package(
    ctx: click.Context,
    model_id: str,
    version: int,
    target_device: str | None,
    target_platform: str | None,
    framework: str,
    framework_version: str | None,
    input_shape: str,
    component_name: str | None,
    follow: bool,
    interval: float,
) -> None:
    """Build an edge package of MODEL_ID's approved --version for one target."""
    request = {
        "version": version,
        "target_device": target_device,
        "target_platform": _target_platform(target_platform),
        "framework": framework,
        "framework_version": framework_version,
        "data_input_config": input_shape,
        "component_name": component_name,
    }
    body = {key: value for key, value in request.items() if value is not None}
    if not follow:
        _run(ctx, lambda client: client.create_edge_package(model_id, body))
        return
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        package = client.create_edge_package(model_id, body)
        click.echo(f"Package {package.package_id}: {package.status}", err=True)
        while package.status not in ("ready", "failed"):
            _sleep(interval)
            package = client.get_edge_package(model_id, package.package_id)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(package.model_dump_json(indent=2))
    sys.exit(0 if package.status == "ready" else 1)


@edge.command("list")
@click.argument("model_id")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def edge_list(ctx: click.Context, model_id: str, limit: int, next_token: str | None) -> None:
    """List MODEL_ID's edge packages."""
    _run(ctx, lambda client: client.list_edge_packages(model_id, limit=limit, next_token=next_token))


@edge.command("get")
@click.argument("model_id")
@click.argument("package_id")
@click.pass_context
def edge_get(ctx: click.Context, model_id: str, package_id: str) -> None:
    """Show a package, with its manifest and recipe once ready."""
    _run(ctx, lambda client: client.get_edge_package(model_id, package_id))


@edge.command("verify")
@click.argument("model_id", required=False)
@click.argument("package_id", required=False)
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Verify a downloaded package folder offline, without AWS credentials.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --dir: the platform's signing public key (PEM); default the package's own public_key.pem.",
)
@click.pass_context
def edge_verify(
    ctx: click.Context,
    model_id: str | None,
    package_id: str | None,
    directory: Path | None,
    public_key: Path | None,
) -> None:
    """Verify a package: on the server (MODEL_ID PACKAGE_ID), or offline (--dir). Exit 1 unless valid."""
    if directory is not None:
        if model_id or package_id:
            raise click.UsageError("Give MODEL_ID PACKAGE_ID or --dir, not both.")
        from cirrus.edge import verify_directory

        report = verify_directory(directory, public_key.read_bytes() if public_key else None)
        document = {
            "valid": report.valid,
            "signature_valid": report.signature_valid,
            "artifacts": [check.model_dump() for check in report.artifacts],
            "problems": report.problems,
            "notes": report.notes,
        }
        click.echo(json.dumps(document, indent=2))
        sys.exit(0 if report.valid else 1)
    if not model_id or not package_id:
        raise click.UsageError("Give MODEL_ID PACKAGE_ID (server-side verification) or --dir PATH (offline).")
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        verification = client.verify_edge_package(model_id, package_id)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(verification.model_dump_json(indent=2))
    sys.exit(0 if verification.valid else 1)


# ------------------------------------------------------------------------------------------ inference

BATCH_CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines")


@cli.command()
@api_options(role_note="data_access: ml_engineer, data_scientist, admin; default ml_engineer")
@click.argument("model_id")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), default="prod", show_default=True)
@click.option("--file", "payload_file", type=click.File("rb"), help="The request body ('-' reads stdin).")
@click.option("--data", help="The request body, inline.")
@click.option(
    "--content-type",
    type=click.Choice(["application/json", "text/csv"]),
    help="The body's type (default: JSON for .json files and bodies starting with [ or {, else CSV).",
)
@click.option("--accept", type=click.Choice(["application/json", "text/csv"]), help="The answer's type.")
def predict(
    api_url: str | None,
    token: str | None,
    role: str | None,
    model_id: str,
    environment: str,
    payload_file: Any,
    data: str | None,
    content_type: str | None,
    accept: str | None,
) -> None:
    """Predict with MODEL_ID's endpoint in --environment; prints the predictions and the inference id."""
    from cirrus.client import CirrusApiError

    if (payload_file is None) == (data is None):
        raise click.UsageError("Give the request body with exactly one of --file and --data.")
    body: bytes = payload_file.read() if payload_file is not None else (data or "").encode("utf-8")
    if content_type is None:
        named_json = payload_file is not None and str(getattr(payload_file, "name", "")).endswith(".json")
        content_type = "application/json" if named_json or body.lstrip()[:1] in (b"[", b"{") else "text/csv"
    try:
        result = _ClientFactory(api_url, token, role)().predict(
            model_id, body, environment=environment, content_type=content_type, accept=accept
        )
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(result.model_dump_json(indent=2))


@cli.group()
@api_options(role_note="data_access starts jobs; default ml_engineer")
@click.pass_context
def batch(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Batch inference: SageMaker transform jobs over S3 data."""
    ctx.obj = _ClientFactory(api_url, token, role)


@batch.command("start")
@click.argument("model_id")
@click.option("--version", type=int, help="The approved version to run.")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), help="Run the version it serves.")
@click.option("--input", "input_uri", required=True, help="s3:// prefix or object to transform.")
@click.option("--output", "output_uri", required=True, help="s3:// prefix for the outputs.")
@click.option("--content-type", type=click.Choice(BATCH_CONTENT_TYPES), default="text/csv", show_default=True)
@click.option("--split", type=click.Choice(["Line", "None"]), default="Line", show_default=True)
@click.option("--accept", type=click.Choice(BATCH_CONTENT_TYPES))
@click.option("--instance-type")
@click.option("--instance-count", type=click.IntRange(1, 100))
@click.option("--follow", is_flag=True, help="Wait until the job ends; exit 1 unless it succeeds.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def batch_start(
    ctx: click.Context,
    model_id: str,
    version: int | None,
    environment: str | None,
    input_uri: str,
    output_uri: str,
    content_type: str,
    split: str,
    accept: str | None,
    instance_type: str | None,
    instance_count: int | None,
    follow: bool,
    interval: float,
) -> None:
    """Start a batch transform job of MODEL_ID with --version or --environment."""
    if (version is None) == (environment is None):
        raise click.UsageError("Give exactly one of --version and --environment.")
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        job = client.start_batch_job(
            model_id,
            input_uri=input_uri,
            output_uri=output_uri,
            version=version,
            environment=environment,
            content_type=content_type,
            split=split,
            accept=accept,
            instance_type=instance_type,
            instance_count=instance_count,
        )
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(job.model_dump_json(indent=2))
    if follow:
        _follow_batch_job(client, model_id, job.job_id, interval)


@batch.command("status")
@click.argument("model_id")
@click.argument("job_id")
@click.option("--follow", is_flag=True, help="Wait until the job ends; exit 1 unless it succeeds.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def batch_status(ctx: click.Context, model_id: str, job_id: str, follow: bool, interval: float) -> None:
    """Show a batch job; with --follow, wait until it ends."""
    if not follow:
        _run(ctx, lambda client: client.get_batch_job(model_id, job_id))
        return
    _follow_batch_job(ctx.find_object(_ClientFactory)(), model_id, job_id, interval)  # type: ignore[misc]


@batch.command("list")
@click.argument("model_id")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def batch_list(ctx: click.Context, model_id: str, limit: int, next_token: str | None) -> None:
    """List MODEL_ID's batch jobs, newest first."""
    _run(ctx, lambda client: client.list_batch_jobs(model_id, limit=limit, next_token=next_token))


def _follow_batch_job(client: CirrusClient, model_id: str, job_id: str, interval: float) -> None:
    """Poll until the job ends; print its status changes; exit 0 when it succeeded, else 1."""
    from cirrus.client import CirrusApiError

    shown = ""
    while True:
        try:
            job = client.get_batch_job(model_id, job_id)
        except CirrusApiError as error:
            _print_api_error(error)
            sys.exit(1)
        if job.status != shown:
            shown = job.status
            click.echo(f"Batch job {job_id}: {job.status}")
        if job.status != "in_progress":
            break
        _sleep(interval)
    if job.failure_reason:
        click.echo(f"  failed: {job.failure_reason}", err=True)
    else:
        click.echo(f"  outputs under {job.output_uri}")
    sys.exit(0 if job.status == "succeeded" else 1)


# ------------------------------------------------------------------------------------------ monitoring


@cli.group()
@api_options(role_note="default ml_engineer; drift configs and alert rules need admin (system_config)")
@click.pass_context
def monitor(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Monitoring: drift baselines, configs, alert rules and drift runs."""
    ctx.obj = _ClientFactory(api_url, token, role)


@monitor.group("drift")
def monitor_drift() -> None:
    """Drift detection: baselines, configs and monitor runs."""


@monitor_drift.command("baseline")
@click.argument("model_id")
@click.argument("version", type=int)
@click.option(
    "--dataset", "dataset_uri", required=True, help="s3:// CSV (with a header) or JSON Lines object."
)
@click.option(
    "--format", "dataset_format", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option("--target", "target_column", help="The label column, left out of the baseline.")
@click.option("--exclude", "exclude_columns", multiple=True, help="A column to leave out (repeatable).")
@click.option(
    "--type",
    "feature_types",
    multiple=True,
    metavar="NAME=numeric|categorical",
    help="Force a feature's kind (repeatable); others are inferred.",
)
@click.pass_context
def drift_baseline(
    ctx: click.Context,
    model_id: str,
    version: int,
    dataset_uri: str,
    dataset_format: str,
    target_column: str | None,
    exclude_columns: tuple[str, ...],
    feature_types: tuple[str, ...],
) -> None:
    """Build VERSION's drift baseline from a dataset and link it to the version."""
    kinds = dict(_key_value(item, "--type") for item in feature_types)
    _run(
        ctx,
        lambda client: client.create_baseline(
            model_id,
            version,
            dataset_uri,
            target_column=target_column,
            exclude_columns=list(exclude_columns) or None,
            feature_types=kinds or None,
            dataset_format=dataset_format,
        ),
    )


@monitor_drift.command("config")
@click.argument("model_id")
@click.option(
    "--set",
    "settings_file",
    type=click.File("r"),
    help="A JSON file (or - for stdin) with the whole config to store; without it, show the config.",
)
@click.pass_context
def drift_config(ctx: click.Context, model_id: str, settings_file: Any) -> None:
    """Show MODEL_ID's drift config, or replace it with --set FILE."""
    if settings_file is None:
        _run(ctx, lambda client: client.get_drift_config(model_id))
        return
    try:
        config = json.load(settings_file)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--set") from error
    if not isinstance(config, dict):
        raise click.BadParameter("the config must be a JSON object", param_hint="--set")
    _run(ctx, lambda client: client.put_drift_config(model_id, config))


@monitor_drift.command("run")
@click.argument("model_id")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), default="prod", show_default=True)
@click.option("--window", default="1h", show_default=True, help="The last N minutes/hours/days: 30m, 1h, 1d.")
@click.option("--follow", is_flag=True, help="Wait for the verdict; exit 2 when features drifted.")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, help="Seconds.")
@click.pass_context
def drift_run(
    ctx: click.Context, model_id: str, environment: str, window: str, follow: bool, interval: float
) -> None:
    """Check the environment's captured traffic of the last --window against its version's baseline."""
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        run = client.start_drift_run(model_id, environment=environment, window=window)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    if not follow:
        click.echo(run.model_dump_json(indent=2))
        return
    click.echo(f"Drift run {run.run_id}: {run.status}")
    sys.exit(_follow_drift_run(client, model_id, run.run_id, interval))


@monitor_drift.command("list")
@click.argument("model_id")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS))
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def drift_list(
    ctx: click.Context, model_id: str, environment: str | None, limit: int, next_token: str | None
) -> None:
    """List MODEL_ID's drift runs, newest first."""
    _run(
        ctx,
        lambda client: client.list_drift_runs(
            model_id, environment=environment, limit=limit, next_token=next_token
        ),
    )


@monitor_drift.command("show")
@click.argument("model_id")
@click.argument("run_id")
@click.pass_context
def drift_show(ctx: click.Context, model_id: str, run_id: str) -> None:
    """A run with every feature's scores, thresholds and verdicts."""
    _run(ctx, lambda client: client.get_drift_run(model_id, run_id))


@monitor_drift.command("report")
@click.argument("model_id")
@click.argument("run_id")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML here (default: stdout).",
)
@click.pass_context
def drift_report(ctx: click.Context, model_id: str, run_id: str, output: Path | None) -> None:
    """A finished run's HTML report."""
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        html = client.drift_report(model_id, run_id)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    if output is None:
        click.echo(html)
    else:
        output.write_text(html, encoding="utf-8")
        click.echo(f"Report written to {output}")


@monitor.group("alerts")
def monitor_alerts() -> None:
    """Alert rules."""


@monitor_alerts.command("create")
@click.argument("model_id", required=False)
@click.option(
    "--type",
    "alert_type",
    type=click.Choice(["drift_detection", "performance_degradation", "system_failures"]),
    default="drift_detection",
    show_default=True,
)
@click.option(
    "--threshold",
    type=float,
    required=True,
    help="drift_detection: share of drifted features, (0, 1]; performance_degradation: in the metric's "
    "unit; system_failures: failures per subject.",
)
@click.option("--window", "evaluation_window", default="1h", show_default=True, help="5m to 7d.")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), default=None, help="Default prod.")
@click.option("--channel", "channels", multiple=True, help="A notification channel's name (repeatable).")
@click.option("--metric", default=None, help="performance_degradation: e.g. latency_p95_ms, accuracy.")
@click.option("--comparison", type=click.Choice(["gt", "gte", "lt", "lte"]), default=None)
@click.option("--source", "sources", multiple=True, help="system_failures: what to watch (repeatable).")
@click.option("--cooldown", default=None, help="At most one reminder per cooldown while firing (1m to 7d).")
@click.option("--severity", type=click.Choice(["critical", "error", "warning", "info"]), default=None)
@click.option("--description", default=None)
@click.pass_context
def alerts_create(
    ctx: click.Context,
    model_id: str | None,
    alert_type: str,
    threshold: float,
    evaluation_window: str,
    environment: str | None,
    channels: tuple[str, ...],
    metric: str | None,
    comparison: str | None,
    sources: tuple[str, ...],
    cooldown: str | None,
    severity: str | None,
    description: str | None,
) -> None:
    """Create an alert rule (MODEL_ID may be left out for a platform-wide system_failures rule)."""
    if environment is None and model_id is not None:
        environment = "prod"
    _run(
        ctx,
        lambda client: client.create_alert(
            model_id,
            alert_type,
            threshold,
            evaluation_window=evaluation_window,
            environment=environment,
            notification_channels=list(channels),
            metric=metric,
            comparison=comparison,
            sources=list(sources) or None,
            cooldown=cooldown,
            severity=severity,
            description=description,
        ),
    )


@monitor_alerts.command("list")
@click.option("--model", "model_id", default=None, help="Only this model's rules (`*`: platform-wide).")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", default=None)
@click.pass_context
def alerts_list(ctx: click.Context, model_id: str | None, limit: int, next_token: str | None) -> None:
    """Alert rules, newest first."""
    _run(ctx, lambda client: client.list_alerts(model_id=model_id, limit=limit, next_token=next_token))


@monitor_alerts.command("show")
@click.argument("alert_id")
@click.pass_context
def alerts_show(ctx: click.Context, alert_id: str) -> None:
    """A rule and the state of its alert(s): ok or firing, dedup key, fired and resolved times."""
    _run(ctx, lambda client: client.get_alert(alert_id))


@monitor_alerts.command("update")
@click.argument("alert_id")
@click.argument("settings_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def alerts_update(ctx: click.Context, alert_id: str, settings_file: Path) -> None:
    """Replace a rule's settings from a JSON or YAML file (alert_type, threshold, channels, window ...)."""
    settings = _load_document(settings_file)
    _run(ctx, lambda client: client.update_alert(alert_id, settings))


@monitor_alerts.command("delete")
@click.argument("alert_id")
@click.pass_context
def alerts_delete(ctx: click.Context, alert_id: str) -> None:
    """Delete a rule, its schedule and its state."""
    _run_no_content(ctx, lambda client: client.delete_alert(alert_id), f"Deleted alert rule {alert_id}.")


@monitor_alerts.command("test")
@click.argument("alert_id")
@click.pass_context
def alerts_test(ctx: click.Context, alert_id: str) -> None:
    """Send a test notification to each of the rule's channels."""
    _run(ctx, lambda client: client.test_alert(alert_id))


@monitor_alerts.command("deliveries")
@click.argument("alert_id")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The API's answer as it came.")
@click.pass_context
def alerts_deliveries(ctx: click.Context, alert_id: str, limit: int, as_json: bool) -> None:
    """A rule's notifications, newest first, with every attempt."""
    if as_json:
        _run(ctx, lambda client: client.alert_deliveries(alert_id, limit=limit))
        return
    from cirrus.client import CirrusApiError

    try:
        page = ctx.find_object(_ClientFactory)().alert_deliveries(alert_id, limit=limit)  # type: ignore[misc]
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    if not page.items:
        click.echo("No deliveries yet.")
    for delivery in page.items:
        click.echo(
            f"{delivery.queued_at:%Y-%m-%d %H:%M:%S}  {delivery.notification_kind:<8} "
            f"{delivery.channel} ({delivery.kind or '?'})  {delivery.status}"
        )
        for attempt in delivery.attempts:
            outcome = attempt.status_code if attempt.status_code is not None else attempt.error
            latency = f"{attempt.latency_ms:.0f} ms" if attempt.latency_ms is not None else "-"
            click.echo(f"    attempt {attempt.attempt}  {attempt.at:%H:%M:%S}  {outcome}  {latency}")


@monitor.group("channels")
def monitor_channels() -> None:
    """Notification channels: email, Slack, PagerDuty, signed webhooks (admin: system_config)."""


@monitor_channels.command("create")
@click.argument("name")
@click.option(
    "--type", "channel_type", type=click.Choice(["webhook", "slack", "pagerduty", "email"]), required=True
)
@click.option("--url", default=None, help="webhook: the https URL to POST to.")
@click.option(
    "--signing-secret",
    envvar="CIRRUS_WEBHOOK_SECRET",
    default=None,
    help="webhook: the whsec_... secret the receiver verifies with (or CIRRUS_WEBHOOK_SECRET).",
)
@click.option("--webhook-url", default=None, help="slack: the incoming webhook URL.")
@click.option("--routing-key", envvar="CIRRUS_PAGERDUTY_ROUTING_KEY", default=None, help="pagerduty.")
@click.option("--events-url", default=None, help="pagerduty: the Events API v2 URL (default PagerDuty's).")
@click.option("--email", "addresses", multiple=True, help="email: a recipient (repeatable).")
@click.option("--description", default=None)
@click.pass_context
def channels_create(
    ctx: click.Context,
    name: str,
    channel_type: str,
    url: str | None,
    signing_secret: str | None,
    webhook_url: str | None,
    routing_key: str | None,
    events_url: str | None,
    addresses: tuple[str, ...],
    description: str | None,
) -> None:
    """Create a channel; its secrets go to Secrets Manager and are never shown again."""
    given = {
        "url": url,
        "signing_secret": signing_secret,
        "webhook_url": webhook_url,
        "routing_key": routing_key,
        "events_url": events_url,
        "addresses": list(addresses) or None,
    }
    config = {key: value for key, value in given.items() if value is not None}
    _run(ctx, lambda client: client.create_channel(name, channel_type, config, description=description))


@monitor_channels.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token", default=None)
@click.pass_context
def channels_list(ctx: click.Context, limit: int, next_token: str | None) -> None:
    """Channels by name (no secrets)."""
    _run(ctx, lambda client: client.list_channels(limit=limit, next_token=next_token))


@monitor_channels.command("show")
@click.argument("name")
@click.pass_context
def channels_show(ctx: click.Context, name: str) -> None:
    _run(ctx, lambda client: client.get_channel(name))


@monitor_channels.command("delete")
@click.argument("name")
@click.pass_context
def channels_delete(ctx: click.Context, name: str) -> None:
    """Delete a channel no rule names."""
    _run_no_content(ctx, lambda client: client.delete_channel(name), f"Deleted channel {name}.")


def _run_no_content(ctx: click.Context, call: Callable[[CirrusClient], None], done: str) -> None:
    from cirrus.client import CirrusApiError

    try:
        call(ctx.find_object(_ClientFactory)())  # type: ignore[misc]
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    click.echo(done)


@monitor.group("metrics")
def monitor_metrics() -> None:
    """Per-model metrics: history, ground truth, the Prometheus exposition."""


def _time_range(since: str, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    from cirrus_core.monitoring.models import window_length

    end = (end or datetime.now(UTC)).astimezone(UTC)
    if start is not None:
        return start.astimezone(UTC), end
    try:
        return end - window_length(since), end
    except ValueError as error:
        raise click.BadParameter(
            f"expected <n>m, <n>h or <n>d, got {since!r}", param_hint="--since"
        ) from error


_TIME = click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])


@monitor_metrics.command("show")
@click.argument("model_id")
@click.option("--metric", required=True, help="invocations, error_rate, latency_p95_ms, accuracy, mae, ...")
@click.option("--since", default="1h", show_default=True, help="How far back (<n>m|h|d), unless --from.")
@click.option("--from", "start", type=_TIME, default=None, help="Start (UTC unless a zone is given).")
@click.option("--to", "end", type=_TIME, default=None, help="End (default now).")
@click.option("--resolution", type=click.Choice(["1m", "1h", "1d"]), default="1m", show_default=True)
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), default="prod", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The API's answer as it came.")
@click.pass_context
def metrics_show(
    ctx: click.Context,
    model_id: str,
    metric: str,
    since: str,
    start: datetime | None,
    end: datetime | None,
    resolution: str,
    environment: str,
    as_json: bool,
) -> None:
    """One metric of a model over time, a point per bucket with data."""
    start, end = _time_range(since, _utc(start), _utc(end))

    def call(client: CirrusClient) -> MetricHistory:
        return client.model_metrics(
            model_id, metric, start=start, end=end, resolution=resolution, environment=environment
        )

    if as_json:
        _run(ctx, call)
        return
    from cirrus.client import CirrusApiError

    try:
        history = call(ctx.find_object(_ClientFactory)())  # type: ignore[misc]
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    click.echo(f"{model_id} ({environment}) {metric}, {resolution} buckets, {span}")
    if not history.points:
        click.echo("  no data in the range")
    for point in history.points:
        click.echo(f"  {point.timestamp:%Y-%m-%d %H:%M}  {point.value:.6g}")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@monitor_metrics.command("ground-truth")
@click.argument("records_file", type=click.File("r"))
@click.pass_context
def metrics_ground_truth(ctx: click.Context, records_file: Any) -> None:
    """Send labels for earlier predictions: a JSON array or JSON Lines of {"inference_id", "label"}."""
    text = records_file.read()
    try:
        stripped = text.strip()
        records = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [json.loads(line) for line in stripped.splitlines() if line.strip()]
        )
    except ValueError as error:
        raise click.BadParameter(f"not JSON or JSON Lines: {error}", param_hint="RECORDS_FILE") from error
    _run(ctx, lambda client: client.put_ground_truth(records))


@monitor_metrics.command("scrape")
@click.pass_context
def metrics_scrape(ctx: click.Context) -> None:
    """Print the Prometheus exposition, as a scraper reads it."""
    from cirrus.client import CirrusApiError

    try:
        click.echo(ctx.find_object(_ClientFactory)().prometheus_metrics(), nl=False)  # type: ignore[misc]
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)


@monitor_drift.command("history")
@click.argument("model_id")
@click.option("--since", default="7d", show_default=True, help="How far back (<n>m|h|d).")
@click.option("--environment", "--env", type=click.Choice(ENVIRONMENTS), default=None)
@click.pass_context
def drift_history(ctx: click.Context, model_id: str, since: str, environment: str | None) -> None:
    """Per-feature drift scores of the monitor runs over time."""
    start, end = _time_range(since, None, None)
    _run(ctx, lambda client: client.drift_history(model_id, start=start, end=end, environment=environment))


@monitor.command("watch")
@click.argument("model_ids", nargs=-1)
@click.option(
    "--feed-url",
    envvar="CIRRUS_FEED_URL",
    help="The live feed's wss:// URL (the stack's FeedWebSocketUrl; default: the running local cloud's).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON notice per line.")
@click.option("--count", type=int, default=None, help="Stop after this many notices.")
@click.pass_context
def monitor_watch(
    ctx: click.Context, model_ids: tuple[str, ...], feed_url: str | None, as_json: bool, count: int | None
) -> None:
    """Follow the live feed: drift, alert, deployment and pipeline events as they happen.

    Name the models to follow, or none for every model you may read. Ctrl-C stops.
    """
    from cirrus.feed import FeedRefused, follow

    url, token = ctx.find_object(_ClientFactory).feed(feed_url)  # type: ignore[union-attr]
    shown = 0
    try:
        for notice in follow(url, token, list(model_ids) or "*"):
            if notice.get("type") == "subscribed":
                click.echo(
                    f"Following {', '.join(notice.get('models') or []) or 'nothing'} (Ctrl-C stops)", err=True
                )
                continue
            click.echo(json.dumps(notice) if as_json else _describe_notice(notice))
            shown += 1
            if count is not None and shown >= count:
                return
    except FeedRefused as error:
        click.echo(f"The feed refused: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        return


def _describe_notice(notice: dict[str, Any]) -> str:
    data = notice.get("data") or {}
    detail = ""
    if notice.get("type") == "drift.detected":
        detail = "drifted: " + ", ".join(str(f) for f in data.get("drifted_features") or [])
    elif str(notice.get("type", "")).startswith("alert."):
        detail = str(data.get("summary") or data.get("alert_id") or "")
    elif "version" in data:
        detail = f"version {data['version']}"
    model = notice.get("model_id") or "-"
    return f"{notice.get('occurred_at', '')}  {notice.get('type', '?'):<22} {model:<24} {detail}".rstrip()


def _key_value(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
    return name, value


def _follow_drift_run(client: CirrusClient, model_id: str, run_id: str, interval: float) -> int:
    """Poll until the run ends and print its verdict: 0 no drift, 2 drift, 1 failed or no verdict."""
    from cirrus.client import CirrusApiError

    while True:
        try:
            run = client.get_drift_run(model_id, run_id)
        except CirrusApiError as error:
            _print_api_error(error)
            return 1
        if run.status != "running":
            break
        _sleep(interval)
    click.echo(f"Drift run {run_id}: {run.status} ({run.rows or 0} rows)")
    if run.status != "succeeded":
        click.echo(f"  {run.failure_reason or 'no verdict'}", err=True)
        return 1
    for feature in run.features:
        if feature.drifted:
            scores = ", ".join(
                f"{m.method} {m.score:.3g} (threshold {m.threshold:.3g}, {m.threshold_source})"
                for m in feature.methods
                if m.drifted
            )
            click.echo(f"  drifted: {feature.name}: {scores}")
    if not run.drifted_features:
        click.echo("  no feature drifted")
    click.echo(f"  report: {run.links.get('report', run.report_uri)}")
    return 2 if run.drifted_features else 0


# ------------------------------------------------------------------------------------------ deployments


@cli.group()
@api_options(role_note="deploying needs model_deploy; default ml_engineer")
@click.pass_context
def deploy(ctx: click.Context, api_url: str | None, token: str | None, role: str | None) -> None:
    """Deployments: put approved versions on endpoints, follow them, take environments down."""
    ctx.obj = _ClientFactory(api_url, token, role)


@deploy.command("create")
@click.argument("model_id")
@click.argument("version", type=int)
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), required=True)
@click.option("--instance-type", help="e.g. ml.m5.large (instance endpoints).")
@click.option("--instance-count", "initial_instance_count", type=click.IntRange(1, 20))
@click.option("--serverless-memory", type=click.IntRange(1024, 6144), help="MB: a serverless endpoint.")
@click.option("--serverless-concurrency", type=click.IntRange(1, 200), default=5, show_default=True)
@click.option("--autoscale", help="min:max:invocations-per-instance, e.g. 1:4:70.")
@click.option("--samples", "samples_file", type=click.File("r"), help="JSON Lines of {content_type, body}.")
@click.option("--capture", "data_capture_percentage", type=click.IntRange(0, 100), help="Percent captured.")
@click.option("--follow", is_flag=True, help="Print each step as it happens; exit 1 unless it succeeds.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def deploy_create(
    ctx: click.Context,
    model_id: str,
    version: int,
    environment: str,
    instance_type: str | None,
    initial_instance_count: int | None,
    serverless_memory: int | None,
    serverless_concurrency: int,
    autoscale: str | None,
    samples_file: Any,
    data_capture_percentage: int | None,
    follow: bool,
    interval: float,
) -> None:
    """Deploy an approved VERSION of MODEL_ID to an environment."""
    autoscaling = None
    if autoscale:
        parts = autoscale.split(":")
        if len(parts) != 3:
            raise click.BadParameter("expected min:max:invocations-per-instance", param_hint="--autoscale")
        autoscaling = {
            "min_capacity": int(parts[0]),
            "max_capacity": int(parts[1]),
            "target_invocations_per_instance": float(parts[2]),
        }
    samples = [json.loads(line) for line in samples_file if line.strip()] if samples_file else None
    serverless = (
        {"memory_size_mb": serverless_memory, "max_concurrency": serverless_concurrency}
        if serverless_memory
        else None
    )

    def start(client: CirrusClient) -> Deployment:
        return client.deploy(
            model_id,
            version,
            environment,
            instance_type=instance_type,
            initial_instance_count=initial_instance_count,
            serverless=serverless,
            autoscaling=autoscaling,
            sample_payloads=samples,
            data_capture_percentage=data_capture_percentage,
        )

    if not follow:
        _run(ctx, start)
        return
    from cirrus.client import CirrusApiError

    client = ctx.find_object(_ClientFactory)()  # type: ignore[misc]
    try:
        started = start(client)
    except CirrusApiError as error:
        _print_api_error(error)
        sys.exit(1)
    _follow_deployment(client, model_id, started.deployment_id, interval)


@deploy.command("status")
@click.argument("model_id")
@click.argument("deployment_id")
@click.option("--follow", is_flag=True, help="Print each step as it happens; exit 1 unless it succeeds.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="Seconds.")
@click.pass_context
def deploy_status(
    ctx: click.Context, model_id: str, deployment_id: str, follow: bool, interval: float
) -> None:
    """Show a deployment with its history."""
    if not follow:
        _run(ctx, lambda client: client.get_deployment(model_id, deployment_id))
        return
    _follow_deployment(ctx.find_object(_ClientFactory)(), model_id, deployment_id, interval)  # type: ignore[misc]


@deploy.command("list")
@click.argument("model_id")
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS))
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--next-token")
@click.pass_context
def deploy_list(
    ctx: click.Context, model_id: str, environment: str | None, limit: int, next_token: str | None
) -> None:
    """What each environment serves, and the model's deployments, newest first."""
    _run(
        ctx,
        lambda client: client.list_deployments(
            model_id, environment=environment, limit=limit, next_token=next_token
        ),
    )


@deploy.command("undeploy")
@click.argument("model_id")
@click.option("--env", "environment", type=click.Choice(ENVIRONMENTS), required=True)
@click.pass_context
def deploy_undeploy(ctx: click.Context, model_id: str, environment: str) -> None:
    """Take an environment down: delete its endpoint and clear its alias."""
    _run(ctx, lambda client: client.undeploy(model_id, environment))


def _follow_deployment(client: CirrusClient, model_id: str, deployment_id: str, interval: float) -> None:
    """Print each history entry as it appears; exit 0 once succeeded, 1 otherwise."""
    from cirrus.client import CirrusApiError

    shown = 0
    while True:
        try:
            deployment = client.get_deployment(model_id, deployment_id)
        except CirrusApiError as error:
            _print_api_error(error)
            sys.exit(1)
        for entry in deployment.history[shown:]:
            click.echo(f"{entry.step}: {entry.message}".rstrip(": "))
        shown = len(deployment.history)
        if deployment.status != "in_progress":
            break
        _sleep(interval)
    click.echo(f"Deployment {deployment.deployment_id}: {deployment.status}")
    if deployment.failed_step:
        click.echo(f"  failed at {deployment.failed_step}: {deployment.cause or ''}".rstrip(), err=True)
    sys.exit(0 if deployment.status == "succeeded" else 1)


# ------------------------------------------------------------------------------------------ demo


@cli.command()
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def demo(project_dir: Path) -> None:
    """Start the local cloud, walk the model lifecycle over HTTP, stop, and summarise."""
    from cirrus.demo import run_demo

    sys.exit(run_demo(project_dir.resolve(), echo=click.echo))


class _spinner:  # noqa: N801 - used as a context manager, reads as a phrase
    """Shows the current step of a long operation on one line (plain lines when not a terminal)."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> Callable[[str], None]:
        click.echo(f"{self._title}...", err=True)
        return self._step

    def _step(self, message: str) -> None:
        if self._tty:
            click.echo(f"\r\033[K  {message}", err=True, nl=False)
        else:
            click.echo(f"  {message}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self._tty:
            click.echo("", err=True)


# The data group lives in its own module, which adds itself to `cli` (whichever module is imported first).
import cirrus.cli_data  # noqa: E402, F401
