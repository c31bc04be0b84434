"""Deploy template.yaml into the local cloud's emulator: package, translate, provision.

1. Package, as `sam package` does: each local `CodeUri`/`ContentUri`/`DefinitionUri` is zipped
   (deterministically, without `__pycache__` or `*.pyc`) into the emulator bucket
   `cirrus-local-deployments` under its MD5, and the property points there. A layer built with
   `BuildMethod: pythonX` gets its folder under `python/`, as `sam build` lays it out.
2. Translate SAM to CloudFormation offline with aws-sam-translator.
3. Provision with our own small provisioner (moto's CloudFormation skips or mangles too many of the
   types we use; see notes/localcloud.md): parameters and conditions evaluated, every resource type
   checked against `resources.HANDLERS` before anything is created, resources created in dependency
   order with their intrinsic functions resolved, each through its own handler.

The stack's state (resolved properties, physical ids, attributes) is kept in the deployment bucket,
so a redeploy updates what changed in place: new code reaches functions through
`update_function_code`, and tables keep their items. Resources dropped from the template stay in
the emulator until it stops; deletion and retention policies have no local meaning.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import io
import json
import os
import sys
import threading
import types
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import boto3
from botocore.exceptions import ClientError

from cirrus.localcloud.endpoint import region_of
from cirrus.localcloud.intrinsics import (
    Intrinsics,
    PseudoParameters,
    TemplateError,
    attribute_references,
    creation_order,
    evaluate_conditions,
    resolve_parameters,
    resource_dependencies,
)
from cirrus.localcloud.resources import HANDLERS, DeployedResource, ProvisionContext, ResourceHandler
from cirrus.localcloud.restapi import RestApi, parse_rest_api

if TYPE_CHECKING:
    from cirrus.localcloud.endpoint import ClientSource

DEPLOYMENT_BUCKET: Final = "cirrus-local-deployments"
SAM_TRANSFORM: Final = "AWS::Serverless-2016-10-31"
DEFAULT_STACK_NAME: Final = "cirrus-local"

__all__ = [
    "DEPLOYMENT_BUCKET",
    "Deployment",
    "ProvisioningError",
    "TemplateError",
    "deploy",
    "deterministic_zip",
    "package_template",
    "translate",
]


class ProvisioningError(RuntimeError):
    """A resource the emulator refused; the message names the logical id and the type."""


# ---------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Deployment:
    """A deployed stack: parameters, outputs, every resource's physical id, and its REST APIs."""

    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, Any]
    outputs: Mapping[str, Any]
    resources: Mapping[str, DeployedResource]
    apis: tuple[RestApi, ...] = ()
    notes: tuple[str, ...] = ()  # what was not applied locally, and why
    template_path: Path | None = None

    def physical_id(self, logical_id: str) -> str:
        """The physical id of a resource (a table or bucket name, a pool id, ...)."""
        return self.resource(logical_id).physical_id

    def resource(self, logical_id: str) -> DeployedResource:
        """A deployed resource by logical id."""
        try:
            return self.resources[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a resource of stack {self.stack_name}") from None

    def of_type(self, type_name: str) -> list[DeployedResource]:
        """The deployed resources of one CloudFormation type, in creation order."""
        return [resource for resource in self.resources.values() if resource.type_name == type_name]

    @property
    def physical_ids(self) -> dict[str, str]:
        """Logical id -> physical id, for every resource."""
        return {logical_id: resource.physical_id for logical_id, resource in self.resources.items()}

    def api(self, logical_id: str | None = None) -> RestApi:
        """A REST API of the stack: the one named, or the only one."""
        if logical_id is not None:
            for api in self.apis:
                if api.logical_id == logical_id:
                    return api
            raise KeyError(f"{logical_id} is not a REST API of stack {self.stack_name}")
        if len(self.apis) != 1:
            raise ValueError(f"Stack {self.stack_name} has {len(self.apis)} REST APIs; name one")
        return self.apis[0]


# ---------------------------------------------------------------------------------------- packaging

ArtifactKind = Literal["function", "layer", "file"]


@dataclass(frozen=True)
class Artifact:
    """A packaged local folder or file, ready to upload under its content hash."""

    source: Path
    data: bytes
    key: str

    @property
    def uri(self) -> str:
        """Where `sam package` would say it is."""
        return f"s3://{DEPLOYMENT_BUCKET}/{self.key}"


@dataclass(frozen=True)
class _PackagedProperty:
    name: str
    kind: ArtifactKind
    form: Literal["uri", "code", "content", "location"]  # how the property names an S3 object


# The properties `sam package` uploads, for the types Cirrus uses.
_PACKAGED: Final[Mapping[str, _PackagedProperty]] = {
    "AWS::Serverless::Function": _PackagedProperty("CodeUri", "function", "uri"),
    "AWS::Serverless::LayerVersion": _PackagedProperty("ContentUri", "layer", "uri"),
    "AWS::Serverless::StateMachine": _PackagedProperty("DefinitionUri", "file", "uri"),
    "AWS::Lambda::Function": _PackagedProperty("Code", "function", "code"),
    "AWS::Lambda::LayerVersion": _PackagedProperty("Content", "layer", "content"),
    "AWS::StepFunctions::StateMachine": _PackagedProperty("DefinitionS3Location", "file", "location"),
}
_SKIPPED_DIRECTORIES: Final = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES: Final = frozenset({".pyc"})


def deterministic_zip(folder: Path, prefix: str = "") -> bytes:
    """The folder as a zip whose bytes depend only on file names, contents and executable bits."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(folder):
            name = prefix + path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir(), key=lambda item: item.name):
        if path.is_dir():
            if path.name not in _SKIPPED_DIRECTORIES:
                yield from _files(path)
        elif path.suffix not in _SKIPPED_SUFFIXES:
            yield path


class _Packager:
    """Replaces local paths with S3 locations and collects the artifacts to upload."""

    def __init__(self, base_dir: Path) -> None:
        self._base_dir = base_dir
        self.artifacts: dict[str, Artifact] = {}
        # Many functions share one CodeUri (functions/registry/): zip each folder once.
        self._packaged: dict[tuple[Path, ArtifactKind, str], Artifact] = {}

    def package(self, template: dict[str, Any]) -> dict[str, Any]:
        packaged = copy.deepcopy(template)
        function_globals = packaged.get("Globals", {}).get("Function", {})
        if isinstance(function_globals.get("CodeUri"), str):
            function_globals["CodeUri"] = self._artifact(function_globals["CodeUri"], "function").uri
        for logical_id, resource in packaged.get("Resources", {}).items():
            spec = _PACKAGED.get(resource.get("Type", ""))
            properties = resource.get("Properties", {})
            value = properties.get(spec.name) if spec else None
            if spec is None or not isinstance(value, str) or value.startswith("s3://"):
                continue
            prefix = "python/" if spec.kind == "layer" and _python_build(resource) else ""
            artifact = self._artifact(value, spec.kind, prefix=prefix, owner=logical_id)
            properties[spec.name] = {
                "uri": artifact.uri,
                "code": {"S3Bucket": DEPLOYMENT_BUCKET, "S3Key": artifact.key},
                "content": {"S3Bucket": DEPLOYMENT_BUCKET, "S3Key": artifact.key},
                "location": {"Bucket": DEPLOYMENT_BUCKET, "Key": artifact.key},
            }[spec.form]
        return packaged

    def _artifact(
        self, value: str, kind: ArtifactKind, *, prefix: str = "", owner: str = "Globals"
    ) -> Artifact:
        path = (self._base_dir / value).resolve()
        if (path, kind, prefix) in self._packaged:
            return self._packaged[(path, kind, prefix)]
        if not path.exists():
            raise TemplateError(f"{owner}: {value} does not exist (relative to {self._base_dir})")
        if kind == "file" or path.is_file():
            data = path.read_bytes()
            suffix = "" if kind != "file" else path.suffix
        else:
            data = deterministic_zip(path, prefix)
            suffix = ""
        # sam package names objects by the MD5 of their content; unchanged code keeps its key.
        key = hashlib.md5(data, usedforsecurity=False).hexdigest() + suffix
        artifact = Artifact(source=path, data=data, key=key)
        self.artifacts[key] = artifact
        self._packaged[(path, kind, prefix)] = artifact
        return artifact


def _python_build(resource: Mapping[str, Any]) -> bool:
    build_method = str(resource.get("Metadata", {}).get("BuildMethod", ""))
    return build_method.startswith("python")


def package_template(template: Mapping[str, Any], base_dir: Path) -> tuple[dict[str, Any], list[Artifact]]:
    """The template with local code locations replaced by S3 ones, and the artifacts to upload."""
    packager = _Packager(base_dir)
    packaged = packager.package(dict(template))
    return packaged, list(packager.artifacts.values())


# ---------------------------------------------------------------------------------------- translation


class MotoManagedPolicies:
    """The translator's managed-policy loader: AWS managed policy name -> ARN, from moto's own list."""

    def __init__(self, partition: str = "aws") -> None:
        self._partition = partition

    def load(self) -> dict[str, str]:
        """Every AWS managed policy moto knows, by name."""
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        policies: dict[str, Any] = json.loads(aws_managed_policies_data)
        return {
            name: f"arn:{self._partition}:iam::aws:policy{spec.get('Path', '/')}{name}"
            for name, spec in policies.items()
        }


def parse_template(text: str) -> Any:
    """A template's YAML (or JSON) as samtranslator's `yaml_parse` reads it, with libyaml's parser.

    `yaml_parse` uses PyYAML's pure-Python SafeLoader (about 1 s for our template); the same
    constructors on libyaml's CSafeLoader give the same document in a tenth of that.
    """
    import yaml
    from samtranslator.yaml_helper import intrinsics_multi_constructor, yaml_parse

    base = getattr(yaml, "CSafeLoader", None)
    if base is None:  # PyYAML built without libyaml
        return yaml_parse(text)
    loader: Any = type("TemplateLoader", (base,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return yaml.load(text, Loader=loader)  # noqa: S506  # a SafeLoader subclass  # nosec B506


def _defer_rfc3987_syntax() -> None:
    """Keep jsonschema's import (samtranslator's) from compiling rfc3987-syntax's grammars.

    When installed, rfc3987-syntax builds about 40 Lark parsers at import (1-3 s), and jsonschema
    imports it only to check the `iri` formats, which no SAM schema uses. A stand-in module loads
    the real one on first use, so those checks still work wherever something asks for them.
    """
    name = "rfc3987_syntax"
    if name in sys.modules or "jsonschema" in sys.modules or importlib.util.find_spec(name) is None:
        return
    lock = threading.Lock()
    stand_in = types.ModuleType(name)

    def real() -> Any:
        with lock:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            return importlib.import_module(name)

    def is_valid_syntax(rule: str, value: str) -> Any:
        return real().is_valid_syntax(rule, value)

    def __getattr__(attribute: str) -> Any:  # noqa: N807  # a module's __getattr__
        if attribute.startswith("__"):  # the import system probing (__path__, __spec__ ...)
            raise AttributeError(attribute)
        return getattr(real(), attribute)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = stand_in


def _transforms(template: Mapping[str, Any]) -> list[str]:
    raw = template.get("Transform", [])
    return [raw] if isinstance(raw, str) else [str(item) for item in raw]


def translate(
    template: Mapping[str, Any], parameters: Mapping[str, Any], pseudo: PseudoParameters
) -> dict[str, Any]:
    """A packaged SAM template as CloudFormation (templates without the SAM transform pass through)."""
    transforms = _transforms(template)
    unsupported = [name for name in transforms if name != SAM_TRANSFORM]
    if unsupported:
        raise TemplateError(f"Transforms other than {SAM_TRANSFORM} are not supported locally: {unsupported}")
    if not transforms:
        return copy.deepcopy(dict(template))
    _defer_rfc3987_syntax()
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    fragment = copy.deepcopy(dict(template))
    values = {
        **parameters,
        "AWS::Region": pseudo.region,
        "AWS::AccountId": pseudo.account_id,
        "AWS::Partition": pseudo.partition,
    }
    # What samtranslator.translator.transform.transform does, with a session naming the region:
    # transform() builds a default session and fails when the environment names no region. (The
    # translator also records that region in ArnGenerator, a class attribute: translations are
    # process-wide, like the emulator.)
    to_py27_compatible_template(fragment, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=pseudo.region))
    policies = MotoManagedPolicies(pseudo.partition)
    try:
        translated = translator.translate(
            fragment, parameter_values=values, get_managed_policy_map=policies.load
        )
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause.message) for cause in error.causes)
        raise TemplateError(f"The SAM translator refused the template: {causes}") from None
    finally:
        # The translator records usage metrics for a publisher that, offline, discards them; flushing
        # here keeps its "unpublished metrics" warning out of every deploy's output.
        translator.metrics.publish()
    return dict(undo_mark_unicode_str_in_template(translated))


# ---------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    parameters: Mapping[str, Any]
    conditions: Mapping[str, bool]
    mappings: Mapping[str, Any]
    order: tuple[str, ...]  # resources to create, in dependency order
    resources: Mapping[str, Mapping[str, Any]]
    outputs: Mapping[str, Any]
    skipped: frozenset[str]  # resources whose condition is false


def _plan(template: Mapping[str, Any], given: Mapping[str, str], pseudo: PseudoParameters) -> _Plan:
    """Everything checked before anything is created: types, parameters, conditions, references, order."""
    resources = template.get("Resources")
    if not isinstance(resources, Mapping) or not resources:
        raise TemplateError("The template declares no resources")
    parameters = resolve_parameters(template.get("Parameters", {}), given)
    conditions = evaluate_conditions(template.get("Conditions", {}), pseudo=pseudo, parameters=parameters)
    skipped: set[str] = set()
    for logical_id, resource in resources.items():
        condition = resource.get("Condition")
        if condition is not None:
            if condition not in conditions:
                raise TemplateError(f"Resource {logical_id} names an undeclared condition {condition!r}")
            if not conditions[condition]:
                skipped.add(logical_id)
    # A resource whose condition is false is never created here, as in CloudFormation: its type need
    # not be one the local cloud supports (the Glue job and EMR application of Spark transformations,
    # the stream consumers' event source mappings), and its properties are not checked.
    unsupported = [
        f"{logical_id} ({resource.get('Type')})"
        for logical_id, resource in resources.items()
        if logical_id not in skipped and resource.get("Type") not in HANDLERS
    ]
    if unsupported:
        raise TemplateError(
            "Resource types the local provisioner does not support: "
            + ", ".join(unsupported)
            + f". Supported: {', '.join(sorted(HANDLERS))}"
        )
    dependencies = resource_dependencies(resources, list(parameters))
    for logical_id, resource in resources.items():
        if logical_id in skipped:
            continue
        _check_attributes(logical_id, resource.get("Properties", {}), resources)
        HANDLERS[resource["Type"]].validate(logical_id, resource.get("Properties", {}))
    order = [logical_id for logical_id in creation_order(dependencies) if logical_id not in skipped]
    return _Plan(
        parameters=parameters,
        conditions=conditions,
        mappings=template.get("Mappings", {}),
        order=tuple(order),
        resources=resources,
        outputs=template.get("Outputs", {}),
        skipped=frozenset(skipped),
    )


def _check_attributes(logical_id: str, properties: Any, resources: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse `Fn::GetAtt` of an attribute the target's handler does not provide."""
    for target, attribute in sorted(attribute_references(properties)):
        resource = resources.get(target)
        if resource is None:
            continue  # a parameter or pseudo parameter written ${Name.Part}: resolved later
        handler = HANDLERS.get(resource["Type"])
        if handler is None:
            continue  # a conditional resource of a type never created locally (only in an untaken branch)
        if attribute not in handler.attributes:
            raise TemplateError(
                f"{logical_id}: Fn::GetAtt {target}.{attribute}: {resource['Type']} provides "
                f"{sorted(handler.attributes) or 'no attributes'} locally"
            )


# ---------------------------------------------------------------------------------------- provisioning


class _StackState:
    """The stack's deployed resources, kept as JSON in the deployment bucket of the emulator itself,
    so the state lives and dies with the emulator's resources."""

    def __init__(self, s3: Any, stack_name: str) -> None:
        self._s3 = s3
        self._key = f"stacks/{stack_name}/state.json"

    def load(self) -> dict[str, DeployedResource]:
        try:
            body = self._s3.get_object(Bucket=DEPLOYMENT_BUCKET, Key=self._key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
                return {}
            raise
        raw = json.loads(body)
        return {item["logical_id"]: DeployedResource.from_json(item) for item in raw["resources"]}

    def save(self, resources: Mapping[str, DeployedResource]) -> None:
        body = json.dumps({"resources": [item.to_json() for item in resources.values()]}, default=str)
        self._s3.put_object(Bucket=DEPLOYMENT_BUCKET, Key=self._key, Body=body.encode("utf-8"))


def _ensure_bucket(s3: Any, region: str) -> None:
    request: dict[str, Any] = {"Bucket": DEPLOYMENT_BUCKET}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _upload(s3: Any, artifacts: list[Artifact]) -> None:
    for artifact in artifacts:
        s3.put_object(Bucket=DEPLOYMENT_BUCKET, Key=artifact.key, Body=artifact.data)


class _Provisioner:
    """Creates or updates the planned resources in order, resolving intrinsics as it goes."""

    def __init__(self, ctx: ProvisionContext, plan: _Plan, previous: Mapping[str, DeployedResource]) -> None:
        self._ctx = ctx
        self._plan = plan
        self._previous = previous
        self.deployed: dict[str, DeployedResource] = {}
        self._intrinsics = Intrinsics(
            pseudo=ctx.pseudo,
            parameters=plan.parameters,
            conditions=plan.conditions,
            mappings=plan.mappings,
            ref=self._ref,
            get_att=self._get_att,
            availability_zones=self._availability_zones,
        )

    def run(self) -> None:
        for logical_id in self._plan.order:
            self._provision(logical_id)

    def resolve(self, value: Any) -> Any:
        return self._intrinsics.resolve(value)

    def _provision(self, logical_id: str) -> None:
        resource = self._plan.resources[logical_id]
        type_name = str(resource["Type"])
        handler: ResourceHandler = HANDLERS[type_name]
        try:
            props = self.resolve(resource.get("Properties", {}))
        except TemplateError as error:
            raise TemplateError(f"{logical_id} ({type_name}): {error}") from None
        previous = self._previous.get(logical_id)
        try:
            if previous is not None and previous.type_name == type_name:
                if _same(previous.properties, props):
                    self.deployed[logical_id] = previous
                    return
                outcome = handler.update(self._ctx, logical_id, props, previous)
            else:
                outcome = handler.create(self._ctx, logical_id, props)
        except ClientError as error:
            raise ProvisioningError(f"{logical_id} ({type_name}): {error}") from error
        except (KeyError, TypeError) as error:
            raise ProvisioningError(
                f"{logical_id} ({type_name}): missing or malformed property {error}"
            ) from error
        self.deployed[logical_id] = DeployedResource(
            logical_id=logical_id,
            type_name=type_name,
            physical_id=outcome.physical_id,
            ref=outcome.physical_id if outcome.ref is None else outcome.ref,
            attributes=dict(outcome.attributes),
            properties=props,
            notes=tuple(f"{logical_id}: {note}" for note in outcome.notes),
        )

    def _ref(self, name: str) -> Any:
        return self._created(name).ref

    def _get_att(self, name: str, attribute: str) -> Any:
        resource = self._created(name)
        if attribute not in resource.attributes:
            raise TemplateError(
                f"Fn::GetAtt {name}.{attribute}: {resource.type_name} has no such attribute locally"
            )
        return resource.attributes[attribute]

    def _created(self, name: str) -> DeployedResource:
        if name in self.deployed:
            return self.deployed[name]
        if name in self._plan.skipped:
            raise TemplateError(f"{name} is not created (its condition is false) but is referred to")
        raise TemplateError(f"{name} is referred to before it is created")

    def _availability_zones(self, region: str) -> list[str]:
        zones = self._ctx.client("ec2").describe_availability_zones()["AvailabilityZones"]
        return [str(zone["ZoneName"]) for zone in zones if zone.get("RegionName", region) == region]


def _same(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether resolved properties are unchanged (compared as the stored JSON would be)."""
    return json.dumps(old, sort_keys=True, default=str) == json.dumps(new, sort_keys=True, default=str)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def deploy(
    target: ClientSource,
    template_path: str | Path,
    *,
    parameters: Mapping[str, str] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
) -> Deployment:
    """Deploy a (SAM or CloudFormation) template into the emulator behind `target`.

    Raises `TemplateError` before creating anything when the template asks for something the local
    provisioner cannot do (an unsupported type, a bad parameter, a cycle), and `ProvisioningError`
    when the emulator refuses a resource. Deploying again updates the stack in place.
    """
    path = Path(template_path)
    template = parse_template(path.read_text(encoding="utf-8"))
    if not isinstance(template, dict):
        raise TemplateError(f"{path} is not a template")
    region = region_of(target)
    account_id = str(target.client("sts").get_caller_identity()["Account"])
    pseudo = PseudoParameters(
        region=region, account_id=account_id, stack_name=stack_name, partition=_partition(region)
    )
    given = dict(parameters or {})
    packaged, artifacts = package_template(template, path.parent)
    translated = translate(packaged, given, pseudo)
    plan = _plan(translated, given, pseudo)

    ctx = ProvisionContext(target, pseudo)
    s3 = ctx.client("s3")
    _ensure_bucket(s3, region)
    _upload(s3, artifacts)
    state = _StackState(s3, stack_name)
    provisioner = _Provisioner(ctx, plan, state.load())
    try:
        provisioner.run()
    finally:
        # Whatever got created is recorded, so the next deploy updates it instead of failing on it.
        state.save(provisioner.deployed)
    outputs = {
        name: provisioner.resolve(output["Value"])
        for name, output in plan.outputs.items()
        if output.get("Condition") is None or plan.conditions.get(output["Condition"], False)
    }
    deployed = provisioner.deployed
    return Deployment(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=plan.parameters,
        outputs=outputs,
        resources=dict(deployed),
        apis=_rest_apis(deployed),
        notes=tuple(note for resource in deployed.values() for note in resource.notes),
        template_path=path.resolve(),
    )


def _rest_apis(deployed: Mapping[str, DeployedResource]) -> tuple[RestApi, ...]:
    """The REST APIs with the stages their Stage and Deployment resources give them."""
    stages: dict[str, dict[str, Mapping[str, str]]] = {}
    for resource in deployed.values():
        api_id = str(resource.properties.get("RestApiId", ""))
        if resource.type_name == "AWS::ApiGateway::Deployment" and resource.properties.get("StageName"):
            # API Gateway creates the stage a Deployment names (SAM's well-known "Stage" stage).
            stages.setdefault(api_id, {}).setdefault(str(resource.properties["StageName"]), {})
        if resource.type_name == "AWS::ApiGateway::Stage":
            variables = {
                str(key): str(value) for key, value in resource.properties.get("Variables", {}).items()
            }
            stages.setdefault(api_id, {})[str(resource.properties["StageName"])] = variables
    return tuple(
        parse_rest_api(
            logical_id=resource.logical_id,
            api_id=resource.physical_id,
            name=str(resource.properties.get("Name", resource.logical_id)),
            body=resource.properties["Body"],
            stages=stages.get(resource.physical_id, {}),
            binary_media_types=[str(item) for item in resource.properties.get("BinaryMediaTypes", ())],
        )
        for resource in deployed.values()
        if resource.type_name == "AWS::ApiGateway::RestApi"
    )
