"""One small class per CloudFormation resource type the local provisioner creates in the emulator.

Each handler turns resolved `Properties` into boto3 calls against the emulator and answers with the
physical id, the value of `Ref` and the attributes `Fn::GetAtt` may ask for. `update` is called on
a redeploy when the resolved properties changed; handlers whose calls are idempotent puts reuse
`create`. Properties a handler does not apply are reported as notes, never silently dropped.

Types in `NO_LOCAL_MEANING` are accepted and recorded without any call, because nothing in the
emulator would behave differently with them (alarms, autoscaling, the API Gateway account).
Every other type is refused by the provisioner before anything is created.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cirrus.localcloud.intrinsics import TemplateError
from cirrus.localcloud.restapi import check_body

if TYPE_CHECKING:
    from cirrus.localcloud.endpoint import ClientSource
    from cirrus.localcloud.intrinsics import PseudoParameters


@dataclass(frozen=True)
class DeployedResource:
    """A resource as deployed: what `Ref` and `Fn::GetAtt` give, and the properties it was built from."""

    logical_id: str
    type_name: str
    physical_id: str
    ref: Any
    attributes: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, for the stack state kept in the emulator."""
        return {
            "logical_id": self.logical_id,
            "type_name": self.type_name,
            "physical_id": self.physical_id,
            "ref": self.ref,
            "attributes": dict(self.attributes),
            "properties": dict(self.properties),
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DeployedResource:
        """The inverse of `to_json`."""
        return cls(
            logical_id=str(raw["logical_id"]),
            type_name=str(raw["type_name"]),
            physical_id=str(raw["physical_id"]),
            ref=raw["ref"],
            attributes=dict(raw.get("attributes", {})),
            properties=dict(raw.get("properties", {})),
            notes=tuple(raw.get("notes", ())),
        )


@dataclass(frozen=True)
class Provisioned:
    """What a handler reports: physical id, `Ref` value (the physical id unless said), attributes."""

    physical_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    ref: Any = None
    notes: tuple[str, ...] = ()


class ProvisionContext:
    """What handlers share: the emulator's clients, the stack's pseudo parameters, naming."""

    def __init__(self, clients: ClientSource, pseudo: PseudoParameters) -> None:
        self._clients = clients
        self.pseudo = pseudo
        self._cache: dict[str, Any] = {}

    @property
    def region(self) -> str:
        """The stack's region."""
        return self.pseudo.region

    @property
    def account_id(self) -> str:
        """The emulator's account."""
        return self.pseudo.account_id

    def client(self, service_name: str) -> Any:
        """A boto3 client for the emulator, one per service for the whole deployment."""
        if service_name not in self._cache:
            self._cache[service_name] = self._clients.client(service_name)
        return self._cache[service_name]

    def physical_name(self, logical_id: str, *, max_length: int = 64, lowercase: bool = False) -> str:
        """A name for a resource the template leaves unnamed, as CloudFormation makes one.

        CloudFormation writes `<stack>-<logical id>-<random>`; the suffix here is derived from the
        stack and the logical id instead, so a redeploy finds the same name.
        """
        digest = hashlib.sha256(f"{self.pseudo.stack_name}/{logical_id}".encode()).digest()
        suffix = base64.b32encode(digest).decode("ascii")[:12]
        stem = f"{self.pseudo.stack_name}-{logical_id}"[: max_length - len(suffix) - 1]
        name = f"{stem}-{suffix}"
        return name.lower() if lowercase else name

    def arn(self, service: str, resource: str, *, regional: bool = True, with_account: bool = True) -> str:
        """An ARN in this stack's partition, region and account."""
        region = self.region if regional else ""
        account = self.account_id if with_account else ""
        return f"arn:{self.pseudo.partition}:{service}:{region}:{account}:{resource}"


class ResourceHandler(ABC):
    """Creates (and updates) one resource type in the emulator."""

    type_name: str
    attributes: frozenset[str] = frozenset()  # what Fn::GetAtt may ask for

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Refuse, before anything is created, properties this handler cannot honour (unresolved)."""

    @abstractmethod
    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        """Create the resource from resolved properties."""

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        """Bring an existing resource in line with changed properties (default: create's puts again)."""
        return self.create(ctx, logical_id, props)


# ---------------------------------------------------------------------------------------- helpers


def _unapplied(type_name: str, props: Mapping[str, Any], handled: Iterable[str]) -> tuple[str, ...]:
    """Notes for properties present in the template that this handler does not apply."""
    skipped = sorted(set(props) - set(handled))
    return (f"{type_name}: not applied locally: {', '.join(skipped)}",) if skipped else ()


def _tag_dict(tags: Any) -> dict[str, str]:
    """CloudFormation tags ([{Key, Value}] or a map) as a map."""
    if isinstance(tags, Mapping):
        return {str(key): str(value) for key, value in tags.items()}
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or ()}


def _tag_list(tags: Any) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in _tag_dict(tags).items()]


def _json_text(value: Any) -> str:
    """Policy documents and patterns: CloudFormation takes a JSON object or its text."""
    return value if isinstance(value, str) else json.dumps(value)


def _versioned(document: Any) -> str:
    """A policy document with a Version, as moto's validator insists on one.

    SAM's policy templates leave Version out; IAM then reads the document as 2008-10-17, which
    differs from 2012-10-17 only in policy variables, and IAM is not enforced locally.
    """
    parsed = json.loads(document) if isinstance(document, str) else dict(document)
    parsed.setdefault("Version", "2012-10-17")
    return json.dumps(parsed)


def _pick(props: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: props[name] for name in names if name in props}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _inline_zip(source: str, file_name: str) -> bytes:
    """The zip CloudFormation builds from `Code.ZipFile`: the source in one file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- IAM


class IamRole(ResourceHandler):
    """AWS::IAM::Role with inline policies and managed policy attachments (moto checks Lambda roles)."""

    type_name = "AWS::IAM::Role"
    attributes = frozenset({"Arn", "RoleId"})
    _HANDLED = frozenset(
        {"RoleName", "AssumeRolePolicyDocument", "Path", "Description", "MaxSessionDuration"}
        | {"PermissionsBoundary", "Tags", "Policies", "ManagedPolicyArns"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        iam = ctx.client("iam")
        name = str(props.get("RoleName") or ctx.physical_name(logical_id, max_length=64))
        request: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": _json_text(props["AssumeRolePolicyDocument"]),
            **_pick(props, "Path", "Description", "MaxSessionDuration", "PermissionsBoundary"),
        }
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        role = iam.create_role(**request)["Role"]
        notes = self._apply_policies(iam, name, props, previous=None)
        return Provisioned(
            physical_id=name,
            attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]},
            notes=notes + _unapplied(self.type_name, props, self._HANDLED),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        iam = ctx.client("iam")
        name = str(props.get("RoleName") or previous.physical_id)
        if name != previous.physical_id:
            return self.create(ctx, logical_id, props)
        iam.update_assume_role_policy(
            RoleName=name, PolicyDocument=_json_text(props["AssumeRolePolicyDocument"])
        )
        notes = self._apply_policies(iam, name, props, previous=previous.properties)
        return Provisioned(
            physical_id=name,
            attributes=previous.attributes,
            notes=notes + _unapplied(self.type_name, props, self._HANDLED),
        )

    @staticmethod
    def _apply_policies(
        iam: Any, name: str, props: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> tuple[str, ...]:
        policies = {str(item["PolicyName"]): item["PolicyDocument"] for item in props.get("Policies", ())}
        for policy_name, document in policies.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=_versioned(document))
        old = previous or {}
        for item in old.get("Policies", ()):
            if item["PolicyName"] not in policies:
                iam.delete_role_policy(RoleName=name, PolicyName=item["PolicyName"])
        managed = [str(arn) for arn in props.get("ManagedPolicyArns", ())]
        for arn in old.get("ManagedPolicyArns", ()):
            if arn not in managed:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        missing = []
        for arn in managed:
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except ClientError as error:
                # moto loads AWS managed policies only when configured to; IAM is not enforced locally,
                # so a missing AWS managed policy is reported rather than fatal.
                if _error_code(error) != "NoSuchEntity" or ":iam::aws:policy/" not in arn:
                    raise
                missing.append(arn.rsplit("/", 1)[-1])
        if missing:
            return (f"AWS::IAM::Role: AWS managed policies not loaded in the emulator: {', '.join(missing)}",)
        return ()


# ---------------------------------------------------------------------------------------- Lambda


class LambdaLayerVersion(ResourceHandler):
    """AWS::Lambda::LayerVersion: each create publishes a version; `Ref` is its ARN."""

    type_name = "AWS::Lambda::LayerVersion"
    attributes = frozenset({"LayerVersionArn"})
    _HANDLED = frozenset(
        {
            "LayerName",
            "Content",
            "Description",
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "LicenseInfo",
        }
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        content = props["Content"]
        request: dict[str, Any] = {
            "LayerName": str(props.get("LayerName") or ctx.physical_name(logical_id, max_length=140)),
            "Content": _pick(content, "S3Bucket", "S3Key", "S3ObjectVersion"),
            **_pick(props, "Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"),
        }
        arn = str(ctx.client("lambda").publish_layer_version(**request)["LayerVersionArn"])
        return Provisioned(
            physical_id=arn,
            attributes={"LayerVersionArn": arn},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )


class LambdaFunction(ResourceHandler):
    """AWS::Lambda::Function; a redeploy updates code and configuration in place."""

    type_name = "AWS::Lambda::Function"
    attributes = frozenset({"Arn", "SnapStartResponse.ApplyOn"})
    _CONFIGURATION = (
        "Role",
        "Handler",
        "Runtime",
        "Description",
        "Timeout",
        "MemorySize",
        "Environment",
        "Layers",
        "TracingConfig",
        "DeadLetterConfig",
        "EphemeralStorage",
    )
    _HANDLED = frozenset(
        {*_CONFIGURATION, "FunctionName", "Code", "Architectures", "PackageType", "Tags"}
        | {"ReservedConcurrentExecutions"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        lambda_ = ctx.client("lambda")
        name = str(props.get("FunctionName") or ctx.physical_name(logical_id, max_length=64))
        request: dict[str, Any] = {
            "FunctionName": name,
            "Code": self._code(props["Code"], props.get("Runtime", "")),
            **_pick(props, *self._CONFIGURATION, "Architectures", "PackageType"),
        }
        if "Tags" in props:
            request["Tags"] = _tag_dict(props["Tags"])
        arn = str(lambda_.create_function(**request)["FunctionArn"])
        self._concurrency(lambda_, name, props)
        return Provisioned(
            physical_id=name,
            attributes={"Arn": arn},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        name = str(props.get("FunctionName") or previous.physical_id)
        if name != previous.physical_id:
            return self.create(ctx, logical_id, props)
        lambda_ = ctx.client("lambda")
        old = previous.properties
        if props["Code"] != old.get("Code") or props.get("Architectures") != old.get("Architectures"):
            code = self._code(props["Code"], props.get("Runtime", ""))
            request = {"FunctionName": name, **code, **_pick(props, "Architectures")}
            lambda_.update_function_code(**request)
        configuration = {key: props[key] for key in self._CONFIGURATION if key in props}
        # A property removed from the template goes back to its default, as CloudFormation does.
        if "Layers" in old and "Layers" not in props:
            configuration["Layers"] = []
        if "Environment" in old and "Environment" not in props:
            configuration["Environment"] = {"Variables": {}}
        if any(props.get(key) != old.get(key) for key in self._CONFIGURATION):
            lambda_.update_function_configuration(FunctionName=name, **configuration)
        self._concurrency(lambda_, name, props)
        return Provisioned(
            physical_id=name,
            attributes=previous.attributes,
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    @staticmethod
    def _code(code: Mapping[str, Any], runtime: str) -> dict[str, Any]:
        if "ZipFile" in code:
            # CloudFormation writes inline source to index.py (index.js for Node.js).
            file_name = "index.js" if str(runtime).startswith("nodejs") else "index.py"
            return {"ZipFile": _inline_zip(str(code["ZipFile"]), file_name)}
        return _pick(code, "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")

    @staticmethod
    def _concurrency(lambda_: Any, name: str, props: Mapping[str, Any]) -> None:
        if "ReservedConcurrentExecutions" in props:
            lambda_.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"])
            )


class LambdaPermission(ResourceHandler):
    """AWS::Lambda::Permission: a statement on the function's resource policy."""

    type_name = "AWS::Lambda::Permission"
    _FIELDS = (
        "Action",
        "Principal",
        "SourceArn",
        "SourceAccount",
        "EventSourceToken",
        "PrincipalOrgID",
        "FunctionUrlAuthType",
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        statement_id = ctx.physical_name(logical_id, max_length=100)
        ctx.client("lambda").add_permission(
            FunctionName=str(props["FunctionName"]), StatementId=statement_id, **_pick(props, *self._FIELDS)
        )
        return Provisioned(physical_id=statement_id)

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        try:
            ctx.client("lambda").remove_permission(
                FunctionName=str(previous.properties["FunctionName"]), StatementId=previous.physical_id
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
        return self.create(ctx, logical_id, props)


class LambdaEventSourceMapping(ResourceHandler):
    """AWS::Lambda::EventSourceMapping from an SQS queue (what SAM's `Events: {Type: SQS}` becomes).

    Created through the emulator's Lambda API, and polled like Lambda's SQS poller by the
    `sqs_event_sources` hook. Stream and broker sources (Kinesis, DynamoDB streams, Kafka, MQ,
    DocumentDB) and `FilterCriteria` are refused: nothing local would deliver them faithfully.
    `Ref` is the mapping's UUID.
    """

    type_name = "AWS::Lambda::EventSourceMapping"
    attributes = frozenset({"Id", "EventSourceMappingArn"})
    _SETTINGS = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig")
    _DEFAULTS: Final[Mapping[str, Any]] = {
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
        "ScalingConfig": {},
        "Enabled": True,
    }
    _REFUSED: Final = (
        "StartingPosition",
        "StartingPositionTimestamp",
        "Topics",
        "Queues",
        "SelfManagedEventSource",
        "SelfManagedKafkaEventSourceConfig",
        "AmazonManagedKafkaEventSourceConfig",
        "DocumentDBEventSourceConfig",
        "FilterCriteria",
    )

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        refused = [name for name in self._REFUSED if name in properties]
        source = properties.get("EventSourceArn")
        target = source.get("Fn::GetAtt", ()) if isinstance(source, Mapping) else ()
        stream = (target.split(".", 1) if isinstance(target, str) else list(target))[1:2] == ["StreamArn"]
        literal = isinstance(source, str) and source.split(":")[2:3] != ["sqs"]
        if refused or stream or literal:
            raise TemplateError(
                f"{logical_id} ({self.type_name}): the local cloud polls SQS queues only (no Kinesis, "
                "DynamoDB stream, Kafka, MQ or DocumentDB sources, no FilterCriteria)"
                + (f"; refused: {', '.join(refused)}" if refused else "")
            )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        source = str(props["EventSourceArn"])
        if source.split(":")[2:3] != ["sqs"]:
            raise TemplateError(f"{logical_id} ({self.type_name}): {source} is not an SQS queue")
        request = {
            "FunctionName": str(props["FunctionName"]),
            "EventSourceArn": source,
            **self._request(props),
        }
        created = ctx.client("lambda").create_event_source_mapping(**request)
        return self._provisioned(created, props)

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        lambda_ = ctx.client("lambda")
        if props.get("EventSourceArn") != previous.properties.get("EventSourceArn"):
            lambda_.delete_event_source_mapping(UUID=previous.physical_id)  # a replacement, as in AWS
            return self.create(ctx, logical_id, props)
        # A setting removed from the template goes back to its default, as CloudFormation does.
        request = {**self._DEFAULTS, **self._request(props)}
        updated = lambda_.update_event_source_mapping(
            UUID=previous.physical_id, FunctionName=str(props["FunctionName"]), **request
        )
        return self._provisioned(updated, props)

    def _request(self, props: Mapping[str, Any]) -> dict[str, Any]:
        request = _pick(props, *self._SETTINGS)
        for name in ("BatchSize", "MaximumBatchingWindowInSeconds"):
            if name in request:
                request[name] = int(request[name])
        if "ScalingConfig" in request:
            request["ScalingConfig"] = {
                str(key): int(value) for key, value in dict(request["ScalingConfig"]).items()
            }
        if "Enabled" in props:
            request["Enabled"] = str(props["Enabled"]).lower() == "true"
        return request

    def _provisioned(self, answer: Mapping[str, Any], props: Mapping[str, Any]) -> Provisioned:
        uuid = str(answer["UUID"])
        handled = {"FunctionName", "EventSourceArn", "Enabled", *self._SETTINGS}
        return Provisioned(
            physical_id=uuid,
            attributes={"Id": uuid, "EventSourceMappingArn": str(answer.get("EventSourceMappingArn", ""))},
            notes=_unapplied(self.type_name, props, handled),
        )


# ---------------------------------------------------------------------------------------- DynamoDB


class DynamoDbTable(ResourceHandler):
    """AWS::DynamoDB::Table: keys, indexes, billing, streams, SSE, TTL, point-in-time recovery.

    A redeploy updates what DynamoDB can change in place and never recreates a table: its items
    survive. A change that would need a replacement (keys, name) is refused with its reason.
    """

    type_name = "AWS::DynamoDB::Table"
    attributes = frozenset({"Arn", "StreamArn"})
    _HANDLED = frozenset(
        {"TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput"}
        | {"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "SSESpecification"}
        | {"TableClass", "DeletionProtectionEnabled", "Tags", "TimeToLiveSpecification"}
        | {"PointInTimeRecoverySpecification"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        dynamodb = ctx.client("dynamodb")
        name = str(props.get("TableName") or ctx.physical_name(logical_id, max_length=255))
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            # CloudFormation's default billing mode is PROVISIONED, unlike the console's.
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
            **_pick(props, "ProvisionedThroughput", "TableClass", "DeletionProtectionEnabled"),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                request[key] = [self._index(index) for index in props[key]]
        if "StreamSpecification" in props:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        if "SSESpecification" in props:
            request["SSESpecification"] = self._sse(props["SSESpecification"])
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        table = dynamodb.create_table(**request)["TableDescription"]
        self._after_create(dynamodb, name, props, previous={})
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Provisioned(
            physical_id=name, attributes=attributes, notes=_unapplied(self.type_name, props, self._HANDLED)
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        name = str(props.get("TableName") or previous.physical_id)
        for key in ("KeySchema", "LocalSecondaryIndexes"):
            if props.get(key) != old.get(key):
                raise TemplateError(
                    f"{logical_id}: changing {key} replaces the table in AWS; the local provisioner never "
                    "drops a table's items: restart the local cloud to start from an empty one"
                )
        if name != previous.physical_id:
            raise TemplateError(
                f"{logical_id}: renaming a table replaces it; restart the local cloud instead"
            )
        dynamodb = ctx.client("dynamodb")
        self._update_table(dynamodb, name, props, old)
        self._after_create(dynamodb, name, props, previous=old)
        return Provisioned(
            physical_id=name,
            attributes=previous.attributes,
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def _update_table(
        self, dynamodb: Any, name: str, props: Mapping[str, Any], old: Mapping[str, Any]
    ) -> None:
        request: dict[str, Any] = {}
        if props.get("BillingMode", "PROVISIONED") != old.get("BillingMode", "PROVISIONED"):
            request["BillingMode"] = props.get("BillingMode", "PROVISIONED")
        if (
            props.get("ProvisionedThroughput") != old.get("ProvisionedThroughput")
            and "ProvisionedThroughput" in props
        ):
            request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("DeletionProtectionEnabled") != old.get("DeletionProtectionEnabled"):
            request["DeletionProtectionEnabled"] = bool(props.get("DeletionProtectionEnabled", False))
        if props.get("SSESpecification") != old.get("SSESpecification") and "SSESpecification" in props:
            request["SSESpecification"] = self._sse(props["SSESpecification"])
        new_indexes = {index["IndexName"]: index for index in props.get("GlobalSecondaryIndexes", ())}
        old_indexes = {index["IndexName"]: index for index in old.get("GlobalSecondaryIndexes", ())}
        updates: list[dict[str, Any]] = [
            {"Delete": {"IndexName": index}} for index in old_indexes if index not in new_indexes
        ]
        updates += [
            {"Create": self._index(index)}
            for index_name, index in new_indexes.items()
            if index_name not in old_indexes
        ]
        if updates:
            request["AttributeDefinitions"] = props["AttributeDefinitions"]
            request["GlobalSecondaryIndexUpdates"] = updates
        if request:
            dynamodb.update_table(TableName=name, **request)

    @staticmethod
    def _after_create(
        dynamodb: Any, name: str, props: Mapping[str, Any], previous: Mapping[str, Any]
    ) -> None:
        ttl = props.get("TimeToLiveSpecification")
        if ttl is not None and ttl != previous.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "Enabled": bool(ttl["Enabled"]),
                    "AttributeName": ttl["AttributeName"],
                },
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr is not None and pitr != previous.get("PointInTimeRecoverySpecification"):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": bool(pitr.get("PointInTimeRecoveryEnabled", False))
                },
            )

    @staticmethod
    def _index(index: Mapping[str, Any]) -> dict[str, Any]:
        # ContributorInsightsSpecification is CloudFormation-only on an index.
        return {key: value for key, value in index.items() if key != "ContributorInsightsSpecification"}

    @staticmethod
    def _sse(spec: Mapping[str, Any]) -> dict[str, Any]:
        """CloudFormation's SSESpecification (SSEEnabled, KMSMasterKeyId) in the API's words."""
        sse: dict[str, Any] = {"Enabled": bool(spec.get("SSEEnabled", False))}
        sse.update(_pick(spec, "SSEType", "KMSMasterKeyId"))
        return sse


# ---------------------------------------------------------------------------------------- S3


class S3Bucket(ResourceHandler):
    """AWS::S3::Bucket with versioning, encryption, public access block, ownership, Object Lock,
    CORS, notifications and tags; every configuration call is a put, so update repeats create."""

    type_name = "AWS::S3::Bucket"
    attributes = frozenset({"Arn", "DomainName", "RegionalDomainName", "DualStackDomainName", "WebsiteURL"})
    _HANDLED = frozenset(
        {"BucketName", "VersioningConfiguration", "BucketEncryption", "PublicAccessBlockConfiguration"}
        | {"OwnershipControls", "ObjectLockEnabled", "ObjectLockConfiguration", "CorsConfiguration"}
        | {"NotificationConfiguration", "LifecycleConfiguration", "Tags"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        s3 = ctx.client("s3")
        name = str(props.get("BucketName") or ctx.physical_name(logical_id, max_length=63, lowercase=True))
        request: dict[str, Any] = {"Bucket": name}
        if ctx.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        if props.get("ObjectLockEnabled") or "ObjectLockConfiguration" in props:
            request["ObjectLockEnabledForBucket"] = True
        try:
            s3.create_bucket(**request)
        except ClientError as error:
            if _error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        self._configure(s3, name, props)
        return Provisioned(
            physical_id=name,
            attributes={
                "Arn": f"arn:{ctx.pseudo.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.{ctx.pseudo.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{ctx.region}.{ctx.pseudo.url_suffix}",
                "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.{ctx.pseudo.url_suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.{ctx.pseudo.url_suffix}",
            },
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def _configure(self, s3: Any, name: str, props: Mapping[str, Any]) -> None:
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        if "BucketEncryption" in props:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **_pick(rule, "BucketKeyEnabled"),
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
        lock = props.get("ObjectLockConfiguration")
        if lock is not None and "Rule" in lock:
            s3.put_object_lock_configuration(
                Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": lock["Rule"]}
            )
        if "CorsConfiguration" in props:
            rules = [
                {("MaxAgeSeconds" if key == "MaxAge" else key): value for key, value in rule.items()}
                for rule in props["CorsConfiguration"]["CorsRules"]
            ]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        if "NotificationConfiguration" in props:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration=_notification(props["NotificationConfiguration"])
            )
        if "LifecycleConfiguration" in props:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]
                },
            )
        if "Tags" in props:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(props["Tags"])})


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's words (expirations by days and prefix filters)."""
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return api


def _notification(spec: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the S3 API's words."""
    kinds = (
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    )
    result: dict[str, Any] = {}
    for cfn_key, api_key, target_key, api_target in kinds:
        configurations = []
        for item in spec.get(cfn_key, ()):
            configuration: dict[str, Any] = {api_target: item[target_key], "Events": [item["Event"]]}
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules")
            if rules:
                configuration["Filter"] = {"Key": {"FilterRules": rules}}
            configurations.append(configuration)
        if configurations:
            result[api_key] = configurations
    if spec.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        result["EventBridgeConfiguration"] = {}
    return result


class S3BucketPolicy(ResourceHandler):
    """AWS::S3::BucketPolicy, without the statements moto would misread.

    moto's policy evaluator (moto.iam.access_control.IAMPolicyStatement) answers DENIED for any
    statement whose Condition it cannot evaluate, and it evaluates none of the request context.
    `Deny ... unless aws:SecureTransport` would then refuse every request, because the emulator is
    plain HTTP on loopback. Conditional statements are therefore kept out of the applied policy and
    listed in the deployment's notes; unconditional ones are applied as written.
    """

    type_name = "AWS::S3::BucketPolicy"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        bucket = str(props["Bucket"])
        document = props["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else dict(document)
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, Mapping) else list(statements)
        applied = [statement for statement in statements if "Condition" not in statement]
        kept_out = [
            str(statement.get("Sid", index))
            for index, statement in enumerate(statements)
            if "Condition" in statement
        ]
        s3 = ctx.client("s3")
        if applied:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**document, "Statement": applied}))
        else:
            s3.delete_bucket_policy(Bucket=bucket)
        notes: tuple[str, ...] = ()
        if kept_out:
            notes = (
                f"AWS::S3::BucketPolicy: conditional statements not applied (moto treats any condition as "
                f"a deny): {', '.join(kept_out)}",
            )
        return Provisioned(physical_id=bucket, notes=notes)


# ---------------------------------------------------------------------------------------- EventBridge


class EventBus(ResourceHandler):
    """AWS::Events::EventBus; `Ref` is its name."""

    type_name = "AWS::Events::EventBus"
    attributes = frozenset({"Arn", "Name", "Policy"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props["Name"])
        events = ctx.client("events")
        request: dict[str, Any] = {"Name": name}
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        try:
            arn = str(events.create_event_bus(**request)["EventBusArn"])
        except ClientError as error:
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
            arn = str(events.describe_event_bus(Name=name)["Arn"])
        if "Policy" in props:
            events.put_permission(EventBusName=name, Policy=_json_text(props["Policy"]))
        return Provisioned(
            physical_id=name,
            attributes={"Arn": arn, "Name": name, "Policy": _json_text(props.get("Policy", ""))},
            notes=_unapplied(self.type_name, props, {"Name", "Tags", "Policy"}),
        )


class EventRule(ResourceHandler):
    """AWS::Events::Rule with its targets (dead-letter queues, retry policies, input transformers).

    `Ref` is the rule name, or `bus|name` for a rule on a custom bus, as CloudFormation answers.
    """

    type_name = "AWS::Events::Rule"
    attributes = frozenset({"Arn"})
    _HANDLED = frozenset(
        {
            "Name",
            "EventBusName",
            "EventPattern",
            "ScheduleExpression",
            "State",
            "Description",
            "RoleArn",
            "Targets",
        }
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        return self._put(ctx, logical_id, props, previous_targets=())

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        same_rule = props.get("Name") == old.get("Name") and props.get("EventBusName") == old.get(
            "EventBusName"
        )
        old_targets = [target["Id"] for target in old.get("Targets", ())] if same_rule else []
        return self._put(ctx, logical_id, props, previous_targets=old_targets)

    def _put(
        self,
        ctx: ProvisionContext,
        logical_id: str,
        props: Mapping[str, Any],
        previous_targets: Iterable[str],
    ) -> Provisioned:
        events = ctx.client("events")
        name = str(props.get("Name") or ctx.physical_name(logical_id, max_length=64))
        bus = str(props.get("EventBusName", "default"))
        request: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": props.get("State", "ENABLED"),
            **_pick(props, "ScheduleExpression", "Description", "RoleArn"),
        }
        if "EventPattern" in props:
            request["EventPattern"] = _json_text(props["EventPattern"])
        arn = str(events.put_rule(**request)["RuleArn"])
        targets = [dict(target) for target in props.get("Targets", ())]
        stale = sorted(set(previous_targets) - {target["Id"] for target in targets})
        if stale:
            events.remove_targets(Rule=name, EventBusName=bus, Ids=stale)
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        bus_name = bus.rsplit("/", 1)[-1]
        return Provisioned(
            physical_id=name,
            ref=name if bus_name == "default" else f"{bus_name}|{name}",
            attributes={"Arn": arn},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )


# ---------------------------------------------------------------------------------------- SQS / SNS


class SqsQueue(ResourceHandler):
    """AWS::SQS::Queue; `Ref` is the queue URL."""

    type_name = "AWS::SQS::Queue"
    attributes = frozenset({"Arn", "QueueName", "QueueUrl"})
    _ATTRIBUTES = (
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        sqs = ctx.client("sqs")
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName")
        if not name:
            name = ctx.physical_name(logical_id, max_length=75 if fifo else 80) + (".fifo" if fifo else "")
        attributes = self._attributes(props)
        if fifo:
            attributes["FifoQueue"] = "true"
        request: dict[str, Any] = {"QueueName": str(name), "Attributes": attributes}
        if "Tags" in props:
            request["tags"] = _tag_dict(props["Tags"])
        url = str(sqs.create_queue(**request)["QueueUrl"])
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Provisioned(
            physical_id=url,
            attributes={"Arn": arn, "QueueName": str(name), "QueueUrl": url},
            notes=_unapplied(self.type_name, props, {*self._ATTRIBUTES, "QueueName", "FifoQueue", "Tags"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        if props.get("QueueName") != previous.properties.get("QueueName"):
            return self.create(ctx, logical_id, props)
        attributes = self._attributes(props)
        if attributes:
            ctx.client("sqs").set_queue_attributes(QueueUrl=previous.physical_id, Attributes=attributes)
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)

    def _attributes(self, props: Mapping[str, Any]) -> dict[str, str]:
        attributes = {}
        for key in self._ATTRIBUTES:
            if key in props:
                value = props[key]
                if isinstance(value, Mapping):
                    attributes[key] = json.dumps(value)
                elif isinstance(value, bool):
                    attributes[key] = "true" if value else "false"
                else:
                    attributes[key] = str(value)
        return attributes


class SqsQueuePolicy(ResourceHandler):
    """AWS::SQS::QueuePolicy: the Policy attribute of each queue (the queues' URLs)."""

    type_name = "AWS::SQS::QueuePolicy"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        for url in props["Queues"]:
            ctx.client("sqs").set_queue_attributes(
                QueueUrl=str(url), Attributes={"Policy": _json_text(props["PolicyDocument"])}
            )
        return Provisioned(physical_id=ctx.physical_name(logical_id))


class SnsTopic(ResourceHandler):
    """AWS::SNS::Topic with its inline subscriptions; `Ref` is the topic ARN."""

    type_name = "AWS::SNS::Topic"
    attributes = frozenset({"TopicArn", "TopicName"})
    _ATTRIBUTES = (
        "DisplayName",
        "KmsMasterKeyId",
        "ContentBasedDeduplication",
        "SignatureVersion",
        "TracingConfig",
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        sns = ctx.client("sns")
        fifo = bool(props.get("FifoTopic"))
        name = props.get("TopicName")
        if not name:
            name = ctx.physical_name(logical_id, max_length=251 if fifo else 256) + (".fifo" if fifo else "")
        attributes = {key: _scalar(props[key]) for key in self._ATTRIBUTES if key in props}
        if fifo:
            attributes["FifoTopic"] = "true"
        request: dict[str, Any] = {"Name": str(name), "Attributes": attributes}
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        arn = str(sns.create_topic(**request)["TopicArn"])  # idempotent for the same name
        for subscription in props.get("Subscription", ()):
            sns.subscribe(
                TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=str(subscription["Endpoint"])
            )
        return Provisioned(
            physical_id=arn,
            attributes={"TopicArn": arn, "TopicName": str(name)},
            notes=_unapplied(
                self.type_name, props, {*self._ATTRIBUTES, "TopicName", "FifoTopic", "Tags", "Subscription"}
            ),
        )


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


class SnsSubscription(ResourceHandler):
    """AWS::SNS::Subscription; `Ref` is the subscription ARN."""

    type_name = "AWS::SNS::Subscription"
    attributes = frozenset({"Arn"})
    _ATTRIBUTES = (
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "DeliveryPolicy",
        "SubscriptionRoleArn",
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        attributes = {key: _scalar(props[key]) for key in self._ATTRIBUTES if key in props}
        arn = str(
            ctx.client("sns").subscribe(
                TopicArn=str(props["TopicArn"]),
                Protocol=str(props["Protocol"]),
                Endpoint=str(props["Endpoint"]),
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )
        return Provisioned(physical_id=arn, attributes={"Arn": arn})

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        sns = ctx.client("sns")
        identity = ("TopicArn", "Protocol", "Endpoint")
        if any(props.get(key) != previous.properties.get(key) for key in identity):
            sns.unsubscribe(SubscriptionArn=previous.physical_id)
            return self.create(ctx, logical_id, props)
        for key in self._ATTRIBUTES:
            if key in props and props[key] != previous.properties.get(key):
                sns.set_subscription_attributes(
                    SubscriptionArn=previous.physical_id,
                    AttributeName=key,
                    AttributeValue=_scalar(props[key]),
                )
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)


class SnsTopicPolicy(ResourceHandler):
    """AWS::SNS::TopicPolicy: the Policy attribute of each topic."""

    type_name = "AWS::SNS::TopicPolicy"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        for arn in props["Topics"]:
            ctx.client("sns").set_topic_attributes(
                TopicArn=str(arn), AttributeName="Policy", AttributeValue=_json_text(props["PolicyDocument"])
            )
        return Provisioned(physical_id=ctx.physical_name(logical_id))


# ---------------------------------------------------------------------------------------- Step Functions


class StateMachine(ResourceHandler):
    """AWS::StepFunctions::StateMachine, created through the Step Functions API so that the
    executing backend (moto's ASL interpreter) has it; `DefinitionSubstitutions` are applied here."""

    type_name = "AWS::StepFunctions::StateMachine"
    attributes = frozenset({"Arn", "Name", "StateMachineRevisionId"})
    _HANDLED = frozenset(
        {
            "StateMachineName",
            "Definition",
            "DefinitionString",
            "DefinitionS3Location",
            "DefinitionSubstitutions",
        }
        | {"RoleArn", "StateMachineType", "LoggingConfiguration", "TracingConfiguration", "Tags"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props.get("StateMachineName") or ctx.physical_name(logical_id, max_length=80))
        request: dict[str, Any] = {
            "name": name,
            "definition": self._definition(ctx, logical_id, props),
            "roleArn": str(props["RoleArn"]),
            "type": str(props.get("StateMachineType", "STANDARD")),
            **self._options(props),
        }
        if "Tags" in props:
            request["tags"] = [
                {"key": key, "value": value} for key, value in _tag_dict(props["Tags"]).items()
            ]
        arn = str(ctx.client("stepfunctions").create_state_machine(**request)["stateMachineArn"])
        return Provisioned(
            physical_id=arn,
            attributes={"Arn": arn, "Name": name, "StateMachineRevisionId": arn},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        if props.get("StateMachineName") != previous.properties.get("StateMachineName"):
            return self.create(ctx, logical_id, props)
        ctx.client("stepfunctions").update_state_machine(
            stateMachineArn=previous.physical_id,
            definition=self._definition(ctx, logical_id, props),
            roleArn=str(props["RoleArn"]),
            **self._options(props),
        )
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)

    @staticmethod
    def _definition(ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> str:
        if "DefinitionString" in props:
            text = str(props["DefinitionString"])
        elif "Definition" in props:
            text = json.dumps(props["Definition"])
        elif "DefinitionS3Location" in props:
            location = props["DefinitionS3Location"]
            request = {"Bucket": location["Bucket"], "Key": location["Key"], **_pick(location, "Version")}
            if "Version" in request:
                request["VersionId"] = request.pop("Version")
            text = ctx.client("s3").get_object(**request)["Body"].read().decode("utf-8")
        else:
            raise TemplateError(
                f"{logical_id}: a state machine needs Definition, DefinitionString or DefinitionS3Location"
            )
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + str(key) + "}", value if isinstance(value, str) else json.dumps(value))
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            raise TemplateError(f"{logical_id}: the state machine definition is not JSON: {error}") from None
        return text

    @staticmethod
    def _options(props: Mapping[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        logging = props.get("LoggingConfiguration")
        if logging is not None:
            options["loggingConfiguration"] = {
                "level": logging.get("Level", "OFF"),
                "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
                "destinations": [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": item["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                    for item in logging.get("Destinations", ())
                ],
            }
        if "TracingConfiguration" in props:
            options["tracingConfiguration"] = {"enabled": bool(props["TracingConfiguration"].get("Enabled"))}
        return options


# ---------------------------------------------------------------------------------------- KMS


class KmsKey(ResourceHandler):
    """AWS::KMS::Key with its key policy and rotation; `Ref` is the key id."""

    type_name = "AWS::KMS::Key"
    attributes = frozenset({"Arn", "KeyId"})
    _HANDLED = frozenset(
        {
            "Description",
            "KeyPolicy",
            "KeyUsage",
            "KeySpec",
            "MultiRegion",
            "Tags",
            "EnableKeyRotation",
            "Enabled",
        }
        | {"PendingWindowInDays"}
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        kms = ctx.client("kms")
        request: dict[str, Any] = _pick(props, "Description", "KeyUsage", "KeySpec", "MultiRegion")
        if "KeyPolicy" in props:
            request["Policy"] = _json_text(props["KeyPolicy"])
        if "Tags" in props:
            request["Tags"] = [
                {"TagKey": key, "TagValue": value} for key, value in _tag_dict(props["Tags"]).items()
            ]
        metadata = kms.create_key(**request)["KeyMetadata"]
        self._settings(kms, metadata["KeyId"], props, previous={})
        return Provisioned(
            physical_id=str(metadata["KeyId"]),
            attributes={"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        kms = ctx.client("kms")
        key_id = previous.physical_id
        if props.get("Description") != previous.properties.get("Description"):
            kms.update_key_description(KeyId=key_id, Description=str(props.get("Description", "")))
        if "KeyPolicy" in props and props["KeyPolicy"] != previous.properties.get("KeyPolicy"):
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_json_text(props["KeyPolicy"]))
        self._settings(kms, key_id, props, previous=previous.properties)
        return Provisioned(physical_id=key_id, attributes=previous.attributes)

    @staticmethod
    def _settings(kms: Any, key_id: str, props: Mapping[str, Any], previous: Mapping[str, Any]) -> None:
        rotation = bool(props.get("EnableKeyRotation", False))
        if rotation != bool(previous.get("EnableKeyRotation", False)):
            (kms.enable_key_rotation if rotation else kms.disable_key_rotation)(KeyId=key_id)
        enabled = bool(props.get("Enabled", True))
        if enabled != bool(previous.get("Enabled", True)):
            (kms.enable_key if enabled else kms.disable_key)(KeyId=key_id)


class KmsAlias(ResourceHandler):
    """AWS::KMS::Alias; `Ref` is the alias name."""

    type_name = "AWS::KMS::Alias"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props["AliasName"])
        kms = ctx.client("kms")
        try:
            kms.create_alias(AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
        except ClientError as error:
            if _error_code(error) != "AlreadyExistsException":
                raise
            kms.update_alias(AliasName=name, TargetKeyId=str(props["TargetKeyId"]))
        return Provisioned(physical_id=name)


# ---------------------------------------------------------------------------------------- Cognito


class CognitoUserPool(ResourceHandler):
    """AWS::Cognito::UserPool; `Ref` is the pool id, and the provider attributes name its issuer.

    `LambdaConfig` is stored, but moto invokes no triggers: local tokens carry the Cognito groups
    users were added to, which is what the pre-token-generation trigger keeps for non-federated
    users anyway (federation itself needs a real IdP).
    """

    type_name = "AWS::Cognito::UserPool"
    attributes = frozenset({"Arn", "ProviderName", "ProviderURL", "UserPoolId"})
    # Properties CloudFormation and CreateUserPool share, word for word.
    _SHARED = (
        "AccountRecoverySetting",
        "AdminCreateUserConfig",
        "AliasAttributes",
        "AutoVerifiedAttributes",
        "DeletionProtection",
        "DeviceConfiguration",
        "EmailConfiguration",
        "EmailVerificationMessage",
        "EmailVerificationSubject",
        "LambdaConfig",
        "MfaConfiguration",
        "Policies",
        "Schema",
        "SmsAuthenticationMessage",
        "SmsConfiguration",
        "SmsVerificationMessage",
        "UserAttributeUpdateSettings",
        "UsernameAttributes",
        "UsernameConfiguration",
        "UserPoolAddOns",
        "UserPoolTags",
        "VerificationMessageTemplate",
        "UserPoolTier",
    )
    # What UpdateUserPool cannot change.
    _FIXED = frozenset({"AliasAttributes", "UsernameAttributes", "UsernameConfiguration", "Schema"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        cognito = ctx.client("cognito-idp")
        name = str(props.get("UserPoolName") or ctx.physical_name(logical_id, max_length=128))
        pool = cognito.create_user_pool(PoolName=name, **_pick(props, *self._SHARED))["UserPool"]
        self._mfa(cognito, pool["Id"], props)
        provider = f"cognito-idp.{ctx.region}.{ctx.pseudo.url_suffix}/{pool['Id']}"
        return Provisioned(
            physical_id=str(pool["Id"]),
            attributes={
                "Arn": pool["Arn"],
                "UserPoolId": pool["Id"],
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
            },
            notes=_unapplied(self.type_name, props, {*self._SHARED, "UserPoolName", "EnabledMfas"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        cognito = ctx.client("cognito-idp")
        changeable = [key for key in self._SHARED if key not in self._FIXED]
        cognito.update_user_pool(UserPoolId=previous.physical_id, **_pick(props, *changeable))
        self._mfa(cognito, previous.physical_id, props)
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)

    @staticmethod
    def _mfa(cognito: Any, pool_id: str, props: Mapping[str, Any]) -> None:
        # EnabledMfas is CloudFormation's; the API sets the factors with SetUserPoolMfaConfig.
        enabled = set(props.get("EnabledMfas", ()))
        if "SOFTWARE_TOKEN_MFA" in enabled:
            cognito.set_user_pool_mfa_config(
                UserPoolId=pool_id,
                SoftwareTokenMfaConfiguration={"Enabled": True},
                MfaConfiguration=str(props.get("MfaConfiguration", "OFF")),
            )


class CognitoUserPoolClient(ResourceHandler):
    """AWS::Cognito::UserPoolClient; `Ref` is the client id."""

    type_name = "AWS::Cognito::UserPoolClient"
    attributes = frozenset({"ClientId", "ClientSecret", "Name"})
    _SHARED = (
        "AccessTokenValidity",
        "AllowedOAuthFlows",
        "AllowedOAuthFlowsUserPoolClient",
        "AllowedOAuthScopes",
        "AnalyticsConfiguration",
        "AuthSessionValidity",
        "CallbackURLs",
        "DefaultRedirectURI",
        "EnablePropagateAdditionalUserContextData",
        "EnableTokenRevocation",
        "ExplicitAuthFlows",
        "IdTokenValidity",
        "LogoutURLs",
        "PreventUserExistenceErrors",
        "ReadAttributes",
        "RefreshTokenValidity",
        "SupportedIdentityProviders",
        "TokenValidityUnits",
        "WriteAttributes",
    )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props.get("ClientName") or ctx.physical_name(logical_id, max_length=128))
        client = ctx.client("cognito-idp").create_user_pool_client(
            UserPoolId=str(props["UserPoolId"]),
            ClientName=name,
            GenerateSecret=bool(props.get("GenerateSecret", False)),
            **_pick(props, *self._SHARED),
        )["UserPoolClient"]
        return Provisioned(
            physical_id=str(client["ClientId"]),
            attributes={
                "ClientId": client["ClientId"],
                "ClientSecret": client.get("ClientSecret", ""),
                "Name": name,
            },
            notes=_unapplied(
                self.type_name, props, {*self._SHARED, "UserPoolId", "ClientName", "GenerateSecret"}
            ),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        if props["UserPoolId"] != old.get("UserPoolId") or props.get("GenerateSecret") != old.get(
            "GenerateSecret"
        ):
            return self.create(ctx, logical_id, props)
        name = str(props.get("ClientName") or previous.attributes.get("Name", ""))
        ctx.client("cognito-idp").update_user_pool_client(
            UserPoolId=str(props["UserPoolId"]),
            ClientId=previous.physical_id,
            ClientName=name,
            **_pick(props, *self._SHARED),
        )
        return Provisioned(physical_id=previous.physical_id, attributes={**previous.attributes, "Name": name})


class CognitoUserPoolGroup(ResourceHandler):
    """AWS::Cognito::UserPoolGroup; `Ref` is the group name."""

    type_name = "AWS::Cognito::UserPoolGroup"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props.get("GroupName") or ctx.physical_name(logical_id, max_length=128))
        ctx.client("cognito-idp").create_group(
            GroupName=name,
            UserPoolId=str(props["UserPoolId"]),
            **_pick(props, "Description", "Precedence", "RoleArn"),
        )
        return Provisioned(physical_id=name)

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        if props.get("GroupName") != old.get("GroupName") or props["UserPoolId"] != old.get("UserPoolId"):
            return self.create(ctx, logical_id, props)
        ctx.client("cognito-idp").update_group(
            GroupName=previous.physical_id,
            UserPoolId=str(props["UserPoolId"]),
            **_pick(props, "Description", "Precedence", "RoleArn"),
        )
        return Provisioned(physical_id=previous.physical_id)


class CognitoUserPoolDomain(ResourceHandler):
    """AWS::Cognito::UserPoolDomain; `Ref` is the domain prefix. No hosted sign-in page is served."""

    type_name = "AWS::Cognito::UserPoolDomain"
    attributes = frozenset({"CloudFrontDistribution"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        domain = str(props["Domain"])
        response = ctx.client("cognito-idp").create_user_pool_domain(
            Domain=domain,
            UserPoolId=str(props["UserPoolId"]),
            **_pick(props, "CustomDomainConfig"),
        )
        return Provisioned(
            physical_id=domain,
            attributes={"CloudFrontDistribution": response.get("CloudFrontDomain", "")},
            notes=_unapplied(self.type_name, props, {"Domain", "UserPoolId", "CustomDomainConfig"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        if props["Domain"] == old.get("Domain") and props["UserPoolId"] == old.get("UserPoolId"):
            return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)
        # A new prefix is a new domain, as in CloudFormation (replacement).
        ctx.client("cognito-idp").delete_user_pool_domain(
            Domain=previous.physical_id, UserPoolId=str(old["UserPoolId"])
        )
        return self.create(ctx, logical_id, props)


class CognitoUserPoolIdentityProvider(ResourceHandler):
    """AWS::Cognito::UserPoolIdentityProvider; `Ref` is the provider name.

    Recorded in the pool with its details and attribute mapping; the emulator never talks to the
    IdP (no metadata download, no SAML or OIDC sign-in), so federated sign-in is AWS-only.
    """

    type_name = "AWS::Cognito::UserPoolIdentityProvider"
    _SHARED = ("ProviderName", "ProviderType", "ProviderDetails", "AttributeMapping", "IdpIdentifiers")

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        ctx.client("cognito-idp").create_identity_provider(
            UserPoolId=str(props["UserPoolId"]), **_pick(props, *self._SHARED)
        )
        return Provisioned(
            physical_id=str(props["ProviderName"]),
            notes=_unapplied(self.type_name, props, {*self._SHARED, "UserPoolId"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        if props["ProviderName"] != old.get("ProviderName") or props["UserPoolId"] != old.get("UserPoolId"):
            return self.create(ctx, logical_id, props)
        ctx.client("cognito-idp").update_identity_provider(
            UserPoolId=str(props["UserPoolId"]),
            **_pick(props, "ProviderName", "ProviderDetails", "AttributeMapping", "IdpIdentifiers"),
        )
        return Provisioned(physical_id=previous.physical_id)


class CognitoUserPoolResourceServer(ResourceHandler):
    """AWS::Cognito::UserPoolResourceServer; `Ref` is the identifier, which prefixes its scopes.

    Its scopes (`<identifier>/<scope name>`) are what app clients may be allowed in
    `AllowedOAuthScopes` and what the token endpoint (`ClientCredentialsIssuer`) grants.
    """

    type_name = "AWS::Cognito::UserPoolResourceServer"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        identifier = str(props["Identifier"])
        ctx.client("cognito-idp").create_resource_server(
            UserPoolId=str(props["UserPoolId"]),
            Identifier=identifier,
            Name=str(props["Name"]),
            Scopes=self._scopes(props),
        )
        return Provisioned(
            physical_id=identifier,
            notes=_unapplied(self.type_name, props, {"UserPoolId", "Identifier", "Name", "Scopes"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        old = previous.properties
        if props["Identifier"] != old.get("Identifier") or props["UserPoolId"] != old.get("UserPoolId"):
            return self.create(ctx, logical_id, props)  # replacement, as in CloudFormation
        changed = sorted(key for key in ("Name", "Scopes") if props.get(key) != old.get(key))
        if not changed:
            return Provisioned(physical_id=previous.physical_id)
        # moto 5.2.5 has neither UpdateResourceServer nor DeleteResourceServer. Every local cloud
        # starts from an empty emulator, so the change applies at the next start.
        return Provisioned(
            physical_id=previous.physical_id,
            notes=(
                f"{self.type_name}: {', '.join(changed)} of {logical_id} not updated locally "
                "(the emulator cannot update a resource server); restart the local cloud to apply",
            ),
        )

    @staticmethod
    def _scopes(props: Mapping[str, Any]) -> list[dict[str, str]]:
        return [
            {"ScopeName": str(scope["ScopeName"]), "ScopeDescription": str(scope["ScopeDescription"])}
            for scope in props.get("Scopes", ())
        ]


# ---------------------------------------------------------------------------------------- API Gateway


class ApiGatewayRestApi(ResourceHandler):
    """AWS::ApiGateway::RestApi: created in moto for its id; the local gateway serves its `Body`."""

    type_name = "AWS::ApiGateway::RestApi"
    attributes = frozenset({"RestApiId", "RootResourceId"})

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        check_body(logical_id, properties.get("Body"))

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        check_body(logical_id, props.get("Body"))
        request: dict[str, Any] = {
            "name": str(props.get("Name") or logical_id),
            **_pick(props, "Description"),
        }
        api = ctx.client("apigateway").create_rest_api(**request)
        return Provisioned(
            physical_id=str(api["id"]),
            attributes={"RestApiId": api["id"], "RootResourceId": api.get("rootResourceId", "")},
            notes=_unapplied(
                self.type_name,
                props,
                {"Name", "Description", "Body", "BinaryMediaTypes", "Parameters", "EndpointConfiguration"},
            ),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        # The id stays; the gateway reads the new Body from the deployment.
        check_body(logical_id, props.get("Body"))
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)


class ApiGatewayDeployment(ResourceHandler):
    """AWS::ApiGateway::Deployment: recorded only (moto refuses deployments of a body-only API)."""

    type_name = "AWS::ApiGateway::Deployment"
    attributes = frozenset({"DeploymentId"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        digest = hashlib.sha256(
            json.dumps([logical_id, props], sort_keys=True, default=str).encode()
        ).hexdigest()
        deployment_id = digest[:6]
        return Provisioned(physical_id=deployment_id, attributes={"DeploymentId": deployment_id})


class ApiGatewayStage(ResourceHandler):
    """AWS::ApiGateway::Stage: recorded for the local gateway (name and stage variables)."""

    type_name = "AWS::ApiGateway::Stage"

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        return Provisioned(
            physical_id=str(props["StageName"]),
            notes=_unapplied(
                self.type_name,
                props,
                {"StageName", "RestApiId", "DeploymentId", "Variables", "Description", "Tags"},
            ),
        )


# ---------------------------------------------------------------------------------------- EventBridge schemas


class EventSchemasRegistry(ResourceHandler):
    """AWS::EventSchemas::Registry: moto has no EventSchemas backend, so it is recorded only."""

    type_name = "AWS::EventSchemas::Registry"
    attributes = frozenset({"RegistryArn", "RegistryName"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props.get("RegistryName") or ctx.physical_name(logical_id))
        arn = ctx.arn("schemas", f"registry/{name}")
        return Provisioned(physical_id=arn, attributes={"RegistryArn": arn, "RegistryName": name})


class EventSchemasSchema(ResourceHandler):
    """AWS::EventSchemas::Schema: recorded only (no moto backend), but its Content must be JSON."""

    type_name = "AWS::EventSchemas::Schema"
    attributes = frozenset({"SchemaArn", "SchemaName", "SchemaVersion"})

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        content = properties.get("Content")
        if isinstance(content, str):
            self._check_content(logical_id, content)

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        self._check_content(logical_id, props.get("Content"))
        name = str(props.get("SchemaName") or ctx.physical_name(logical_id, max_length=385))
        arn = ctx.arn("schemas", f"schema/{props['RegistryName']}/{name}")
        return Provisioned(
            physical_id=arn, attributes={"SchemaArn": arn, "SchemaName": name, "SchemaVersion": "1"}
        )

    @staticmethod
    def _check_content(logical_id: str, content: Any) -> None:
        if not isinstance(content, str):
            raise TemplateError(f"{logical_id} (AWS::EventSchemas::Schema): Content must be a JSON string")
        try:
            json.loads(content)
        except json.JSONDecodeError as error:
            raise TemplateError(
                f"{logical_id} (AWS::EventSchemas::Schema): Content is not JSON: {error}"
            ) from None


# ---------------------------------------------------------------------------------------- Secrets Manager


class SecretsManagerSecret(ResourceHandler):
    """AWS::SecretsManager::Secret; `Ref` (and `Fn::GetAtt Id`) is the secret's ARN, as in CloudFormation.

    The value is `SecretString`, or one drawn by GetRandomPassword from `GenerateSecretString`'s
    options (`PasswordLength`, `ExcludeCharacters`, `ExcludePunctuation`, ...); with
    `SecretStringTemplate` and `GenerateStringKey` the password goes into that JSON object under
    that key. Without either the secret has no value, as in CloudFormation. A redeploy keeps a
    generated value unless `GenerateSecretString` itself changed.
    """

    type_name = "AWS::SecretsManager::Secret"
    attributes = frozenset({"Id"})
    _PASSWORD_OPTIONS = (
        "PasswordLength",
        "ExcludeCharacters",
        "ExcludeNumbers",
        "ExcludePunctuation",
        "ExcludeUppercase",
        "ExcludeLowercase",
        "IncludeSpace",
        "RequireEachIncludedType",
    )
    _GENERATE_KEYS = frozenset({*_PASSWORD_OPTIONS, "SecretStringTemplate", "GenerateStringKey"})

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        where = f"{logical_id} (AWS::SecretsManager::Secret)"
        if "SecretString" in properties and "GenerateSecretString" in properties:
            raise TemplateError(f"{where}: give SecretString or GenerateSecretString, not both")
        generate = properties.get("GenerateSecretString")
        if isinstance(generate, Mapping):
            unknown = sorted(set(generate) - self._GENERATE_KEYS)
            if unknown:
                raise TemplateError(f"{where}: GenerateSecretString does not take {', '.join(unknown)}")
            if ("SecretStringTemplate" in generate) != ("GenerateStringKey" in generate):
                raise TemplateError(
                    f"{where}: GenerateSecretString needs SecretStringTemplate and GenerateStringKey together"
                )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        self.validate(logical_id, props)
        secrets = ctx.client("secretsmanager")
        name = str(props.get("Name") or ctx.physical_name(logical_id, max_length=256))
        request: dict[str, Any] = {"Name": name, **_pick(props, "Description", "KmsKeyId")}
        value = self._value(secrets, props)
        if value is not None:
            request["SecretString"] = value
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        try:
            arn = str(secrets.create_secret(**request)["ARN"])
        except ClientError as error:
            if _error_code(error) != "ResourceExistsException":
                raise
            arn = str(secrets.describe_secret(SecretId=name)["ARN"])
            if value is not None:
                secrets.put_secret_value(SecretId=arn, SecretString=value)
        return Provisioned(
            physical_id=arn,
            ref=arn,
            attributes={"Id": arn},
            notes=_unapplied(
                self.type_name,
                props,
                {"Name", "Description", "KmsKeyId", "SecretString", "GenerateSecretString", "Tags"},
            ),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        self.validate(logical_id, props)
        old = previous.properties
        if props.get("Name") != old.get("Name"):
            return self.create(ctx, logical_id, props)  # a new name is a new secret (replacement)
        secrets = ctx.client("secretsmanager")
        arn = previous.physical_id
        changes = {
            key: props[key]
            for key in ("Description", "KmsKeyId")
            if key in props and props[key] != old.get(key)
        }
        if changes:
            secrets.update_secret(SecretId=arn, **changes)
        value_changed = props.get("SecretString") != old.get("SecretString") or props.get(
            "GenerateSecretString"
        ) != old.get("GenerateSecretString")
        value = self._value(secrets, props) if value_changed else None
        if value is not None:
            secrets.put_secret_value(SecretId=arn, SecretString=value)
        return Provisioned(physical_id=arn, ref=arn, attributes=previous.attributes)

    def _value(self, secrets: Any, props: Mapping[str, Any]) -> str | None:
        generate = props.get("GenerateSecretString")
        if not isinstance(generate, Mapping):
            return str(props["SecretString"]) if "SecretString" in props else None
        options: dict[str, Any] = _pick(generate, *self._PASSWORD_OPTIONS)
        if "PasswordLength" in options:
            options["PasswordLength"] = int(options["PasswordLength"])
        for flag in set(options) - {"PasswordLength", "ExcludeCharacters"}:
            options[flag] = options[flag] in (True, "true", "True")
        password = str(secrets.get_random_password(**options)["RandomPassword"])
        if "SecretStringTemplate" not in generate:
            return password
        document = json.loads(_json_text(generate["SecretStringTemplate"]))
        document[str(generate["GenerateStringKey"])] = password
        return json.dumps(document)


# ------------------------------------------------------------------------------ EventBridge Scheduler


class SchedulerScheduleGroup(ResourceHandler):
    """AWS::Scheduler::ScheduleGroup in moto's scheduler backend; `Ref` is the group name.

    Schedules are created in it at run time (pipeline schedules, drift monitor runs); moto stores
    them and the scheduler hook (hooks/scheduler.py) fires them.
    """

    type_name = "AWS::Scheduler::ScheduleGroup"
    attributes = frozenset({"Arn", "CreationDate", "LastModificationDate", "State"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        scheduler = ctx.client("scheduler")
        name = str(props.get("Name") or ctx.physical_name(logical_id))
        request: dict[str, Any] = {"Name": name}
        if "Tags" in props:
            request["Tags"] = _tag_list(props["Tags"])
        scheduler.create_schedule_group(**request)
        group = scheduler.get_schedule_group(Name=name)
        return Provisioned(
            physical_id=name,
            attributes={
                "Arn": group["Arn"],
                "CreationDate": _iso(group.get("CreationDate")),
                "LastModificationDate": _iso(group.get("LastModificationDate")),
                "State": group.get("State", "ACTIVE"),
            },
            notes=_unapplied(self.type_name, props, {"Name", "Tags"}),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        if props.get("Name") != previous.properties.get("Name"):
            return self.create(ctx, logical_id, props)  # replacement
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


# ---------------------------------------------------------------------------------------- Logs


class LogGroup(ResourceHandler):
    """AWS::Logs::LogGroup with its retention; `Ref` is the group name."""

    type_name = "AWS::Logs::LogGroup"
    attributes = frozenset({"Arn"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        logs = ctx.client("logs")
        name = str(props.get("LogGroupName") or ctx.physical_name(logical_id, max_length=512))
        request: dict[str, Any] = {"logGroupName": name}
        if "KmsKeyId" in props:
            request["kmsKeyId"] = str(props["KmsKeyId"])
        if "Tags" in props:
            request["tags"] = _tag_dict(props["Tags"])
        try:
            logs.create_log_group(**request)
        except ClientError as error:
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return Provisioned(
            physical_id=name,
            attributes={"Arn": ctx.arn("logs", f"log-group:{name}:*")},
            notes=_unapplied(self.type_name, props, {"LogGroupName", "KmsKeyId", "Tags", "RetentionInDays"}),
        )


# ---------------------------------------------------------------------------------------- no local meaning


class NoLocalMeaning(ResourceHandler):
    """A type accepted and recorded without any call, because nothing local would behave differently."""

    attributes = frozenset({"Arn"})

    def __init__(self, type_name: str, reason: str, arn_of: Callable[[ProvisionContext, str], str]) -> None:
        self.type_name = type_name
        self.reason = reason
        self._arn_of = arn_of

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = ctx.physical_name(logical_id)
        return Provisioned(
            physical_id=name,
            attributes={"Arn": self._arn_of(ctx, name)},
            notes=(f"{self.type_name}: recorded, not created ({self.reason})",),
        )


NO_LOCAL_MEANING: Final[tuple[NoLocalMeaning, ...]] = (
    NoLocalMeaning(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "nothing scales locally",
        lambda ctx, name: ctx.arn("application-autoscaling", f"scalable-target/{name}"),
    ),
    NoLocalMeaning(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "nothing scales locally",
        lambda ctx, name: ctx.arn("autoscaling", f"scalingPolicy:{name}"),
    ),
    NoLocalMeaning(
        "AWS::CloudWatch::Alarm",
        "the local cloud evaluates no alarms (the functions read metrics themselves)",
        lambda ctx, name: ctx.arn("cloudwatch", f"alarm:{name}"),
    ),
    NoLocalMeaning(
        "AWS::CloudWatch::CompositeAlarm",
        "the local cloud evaluates no alarms (the functions read metrics themselves)",
        lambda ctx, name: ctx.arn("cloudwatch", f"alarm:{name}"),
    ),
    NoLocalMeaning(
        "AWS::CloudWatch::Dashboard",
        "the local cloud has no console to show a dashboard in",
        lambda ctx, name: ctx.arn("cloudwatch", f"dashboard/{name}", regional=False),
    ),
    NoLocalMeaning(
        "AWS::ApiGateway::Account",
        "the local gateway writes no CloudWatch logs",
        lambda ctx, name: ctx.arn("apigateway", f"/account/{name}", with_account=False),
    ),
    NoLocalMeaning(
        "AWS::ApiGateway::UsagePlan",
        "the local gateway checks no API keys, quotas or throttles",
        lambda ctx, name: ctx.arn("apigateway", f"/usageplans/{name}", with_account=False),
    ),
    NoLocalMeaning(
        "AWS::ApiGateway::DomainName",
        "the local gateway serves plain HTTP on localhost: no custom domain, certificate or mutual TLS",
        lambda ctx, name: ctx.arn("apigateway", f"/domainnames/{name}", with_account=False),
    ),
    NoLocalMeaning(
        "AWS::ApiGateway::BasePathMapping",
        "the local gateway serves plain HTTP on localhost: no custom domain, certificate or mutual TLS",
        lambda ctx, name: ctx.arn("apigateway", f"/domainnames/{name}/basepathmappings", with_account=False),
    ),
    NoLocalMeaning(
        "AWS::VerifiedPermissions::PolicyStore",
        "moto has no Verified Permissions; the functions evaluate the same Cedar files in-process",
        lambda ctx, name: ctx.arn("verifiedpermissions", f"policy-store/{name}", regional=False),
    ),
    NoLocalMeaning(
        "AWS::VerifiedPermissions::Policy",
        "moto has no Verified Permissions; the functions evaluate the same Cedar files in-process",
        lambda ctx, name: ctx.arn("verifiedpermissions", f"policy/{name}", regional=False),
    ),
)

# The live feed's WebSocket API types subclass the handlers above, hence the late import.
from cirrus.localcloud.resources_websocket import WEBSOCKET_HANDLERS  # noqa: E402

HANDLERS: Final[Mapping[str, ResourceHandler]] = {
    handler.type_name: handler
    for handler in (
        IamRole(),
        LambdaLayerVersion(),
        LambdaFunction(),
        LambdaPermission(),
        LambdaEventSourceMapping(),
        DynamoDbTable(),
        S3Bucket(),
        S3BucketPolicy(),
        EventBus(),
        EventRule(),
        SqsQueue(),
        SqsQueuePolicy(),
        SnsTopic(),
        SnsSubscription(),
        SnsTopicPolicy(),
        StateMachine(),
        KmsKey(),
        KmsAlias(),
        CognitoUserPool(),
        CognitoUserPoolClient(),
        CognitoUserPoolGroup(),
        CognitoUserPoolDomain(),
        CognitoUserPoolIdentityProvider(),
        CognitoUserPoolResourceServer(),
        ApiGatewayRestApi(),
        ApiGatewayDeployment(),
        ApiGatewayStage(),
        EventSchemasRegistry(),
        EventSchemasSchema(),
        SecretsManagerSecret(),
        SchedulerScheduleGroup(),
        LogGroup(),
        *NO_LOCAL_MEANING,
        *WEBSOCKET_HANDLERS,
    )
}
