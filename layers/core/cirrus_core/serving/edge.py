"""Edge packages: a SageMaker Neo compilation plus an IoT Greengrass v2 component, signed with KMS.

(SageMaker Edge Manager was discontinued in April 2024; DESIGN.md, "Conventions".)

Creating a package checks everything first (authorization, the version: approved, not retired),
then writes the `EDGE#` item and its audit record in one transaction, then starts
`statemachines/edge_package.asl.json` with the package id as the execution's name. Its steps
(`EdgeSteps`): `Start compilation` (CreateCompilationJob into the package's `compiled/` folder),
`Check compilation` polled behind a Wait until the job ends (bounded), `Build component` (recipe,
public key, manifest of SHA-256 hashes signed by KMS; the package becomes `ready` and
`edge.package_created` is published), and on any failure `Record failure`.

On the local cloud Neo is emulated (the model is copied unchanged): the package records
`compilation: emulated` with a sentence saying so, everywhere it is shown (item, manifest, recipe).
"""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from cirrus_core.api import API_PREFIX
from cirrus_core.arns import execution_arn_of
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    EdgeCompilationFailed,
    EdgePackageNotFound,
    EdgePackageNotReady,
    EdgeStepError,
    InvalidPaginationToken,
    ModelNotFound,
    ModelRetired,
    VersionNotApproved,
    VersionNotFound,
    VersionRetired,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.pagination import decode_token, encode_token
from cirrus_core.registry.models import ApprovalStatus
from cirrus_core.registry.naming import sagemaker_name
from cirrus_core.serving.edge_manifest import (
    COMPILED_FOLDER,
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    RECIPE_NAME,
    SIGNATURE_NAME,
    compare_artifacts,
    compilation_note,
    manifest,
    manifest_bytes,
    package_prefix,
    recipe,
    safe_artifact_name,
)
from cirrus_core.serving.edge_models import (
    TERMINAL_STATUSES,
    ArtifactCheck,
    Compilation,
    CreateEdgePackageRequest,
    EdgeManifest,
    EdgePackage,
    EdgePackageDetail,
    EdgePackagePage,
    EdgePackageStatus,
    EdgePackageVerification,
    EdgeSigning,
    ManifestArtifact,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.registry.models import ModelVersion, RegisteredModel

ModelT = TypeVar("ModelT", bound=BaseModel)

SIGNING_ALGORITHM = "ECDSA_SHA_256"
# Neo's own cap on a compilation (StoppingCondition); the machine's polls are bounded separately.
MAX_COMPILATION_SECONDS = 900
MAX_CAUSE = 1024
_LIVE = (EdgePackageStatus.PENDING, EdgePackageStatus.COMPILING, EdgePackageStatus.BUILDING)
_FAILED_STEP = {
    EdgePackageStatus.PENDING: "Start compilation",
    EdgePackageStatus.COMPILING: "Compile",
    EdgePackageStatus.BUILDING: "Build component",
}
_ENDED_BADLY = frozenset({"FAILED", "STOPPED"})


# -- ports --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompilationState:
    """What DescribeCompilationJob says: status, the compiled artifact once done, the failure reason."""

    status: str
    artifact: str | None = None
    failure_reason: str | None = None


class EdgeStorePort(Protocol):
    def create(self, package: EdgePackage, audit: AuditEntry | None) -> None: ...

    def get(self, model_id: str, package_id: str) -> EdgePackage | None: ...

    def list(self, model_id: str, limit: int, start_after: str | None) -> tuple[list[EdgePackage], bool]: ...

    def update(
        self,
        model_id: str,
        package_id: str,
        changes: Mapping[str, Any],
        *,
        allowed_from: Collection[EdgePackageStatus],
    ) -> bool: ...


class RegistryReader(Protocol):
    def model(self, model_id: str) -> RegisteredModel | None: ...

    def version(self, model_id: str, version: int) -> ModelVersion | None: ...


class ExecutionStarter(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class Compiler(Protocol):
    def start(self, request: Mapping[str, Any]) -> bool: ...

    def describe(self, job_name: str) -> CompilationState: ...


class Files(Protocol):
    bucket: str

    def uri(self, key: str) -> str: ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def read(self, key: str) -> bytes | None: ...

    def sha256(self, key: str) -> tuple[str, int] | None: ...


class Signer(Protocol):
    key_id: str
    algorithm: str

    def public_key_der(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class EventSink(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


# -- names and documents ------------------------------------------------------------------------------


def compilation_job_name(base_name: str, package_id: str) -> str:
    """docs/serving.md: `sagemaker_name(base, f"edge-{package_id[:12]}")`."""
    return sagemaker_name(base_name, f"edge-{package_id[:12]}")


def pem_of(der: bytes) -> str:
    """A DER SubjectPublicKeyInfo as PEM text (what openssl and `cryptography` read)."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def _links(package: EdgePackage) -> dict[str, str]:
    base = f"{API_PREFIX}/models/{package.model_id}/edge-packages/{package.package_id}"
    return {
        "self": base,
        "verification": f"{base}/verification",
        "model": f"{API_PREFIX}/models/{package.model_id}",
    }


def _with_links(package: EdgePackage) -> EdgePackage:
    return package.model_copy(update={"links": _links(package)})


def _key_of(files: Files, uri: str) -> str | None:
    """The key of `uri` when it is an object of the files' bucket, else None."""
    prefix = f"s3://{files.bucket}/"
    return uri[len(prefix) :] if uri.startswith(prefix) else None


# -- the API's use cases ------------------------------------------------------------------------------


class EdgeService:
    """Creates edge packages, reads and verifies them, each on behalf of a `Caller`."""

    def __init__(
        self,
        store: EdgeStorePort,
        executions: ExecutionStarter,
        registry: RegistryReader,
        files: Files,
        signer: Signer,
        *,
        state_machine_arn: str,
        local_cloud: bool,
        poll_seconds: int,
        max_polls: int,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._executions = executions
        self._registry = registry
        self._files = files
        self._signer = signer
        self._arn = state_machine_arn
        self._compilation = Compilation.EMULATED if local_cloud else Compilation.NEO
        self._poll = {"seconds": poll_seconds, "max_attempts": max_polls}
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    def create(self, model_id: str, request: CreateEdgePackageRequest, caller: Caller) -> EdgePackage:
        """Record a package and start building it; every refusal happens before anything is written."""
        authorize(caller.principal, "CreateEdgePackage", Resource.model(model_id))
        version = self._packageable_version(model_id, request.version)
        now = self._clock()
        package_id = self._new_id()
        files = self._files
        package_uri = files.uri(package_prefix(model_id, package_id))
        package = EdgePackage(
            package_id=package_id,
            model_id=model_id,
            version=version.version,
            status=EdgePackageStatus.PENDING,
            request=request,
            model_artifact=version.artifact_location,
            compilation_job_name=compilation_job_name(version.sagemaker.base_name, package_id),
            compilation=self._compilation,
            compilation_note=compilation_note(self._compilation, request.target_name()),
            component_name=request.component_name or f"com.cirrus.{model_id}",
            component_version=f"{version.version}.0.0",
            package_uri=package_uri,
            manifest_uri=f"{package_uri}{MANIFEST_NAME}",
            recipe_uri=f"{package_uri}{RECIPE_NAME}",
            execution_arn=execution_arn_of(self._arn, package_id),
            created_by=caller.actor,
            created_at=now,
            updated_at=now,
        )
        audit = None
        if self._audit_enabled:
            audit = entry_for(
                caller,
                "create_edge_package",
                f"model/{model_id}/edge-package/{package_id}",
                AuditCategory.CHANGE,
                now,
                policies=determining_policies(),
            )
        self._store.create(package, audit)
        document = {"package_id": package_id, "model_id": model_id, "poll": self._poll}
        try:
            self._executions.start(self._arn, package_id, json.dumps(document, separators=(",", ":")))
        except Exception as error:
            self._store.update(
                model_id,
                package_id,
                _failure(self._clock(), "Start", f"The state machine did not start: {error}"),
                allowed_from=_LIVE,
            )
            raise
        return _with_links(package)

    def get(self, model_id: str, package_id: str, caller: Caller) -> EdgePackageDetail:
        """A package, with its manifest and recipe once it is built."""
        authorize(caller.principal, "GetEdgePackage", Resource.model(model_id))
        package = self._require(model_id, package_id)
        detail = EdgePackageDetail(**_with_links(package).model_dump())
        if package.status is not EdgePackageStatus.READY:
            return detail
        prefix = package_prefix(model_id, package_id)
        return detail.model_copy(
            update={
                "manifest": _parsed(self._files.read(prefix + MANIFEST_NAME), EdgeManifest),
                "recipe": _parsed_json(self._files.read(prefix + RECIPE_NAME)),
            }
        )

    def list(self, model_id: str, limit: int, next_token: str | None, caller: Caller) -> EdgePackagePage:
        """A model's packages, in package id order."""
        authorize(caller.principal, "ListEdgePackages", Resource.model(model_id))
        start = decode_token(next_token, frozenset({"p"}))["p"] if next_token else None
        if start is not None and not isinstance(start, str):
            raise InvalidPaginationToken("next_token does not belong to this listing.")
        items, more = self._store.list(model_id, limit, start)
        token = encode_token({"p": items[-1].package_id}) if more and items else None
        return EdgePackagePage(items=[_with_links(item) for item in items], next_token=token)

    def verify(self, model_id: str, package_id: str, caller: Caller) -> EdgePackageVerification:
        """Re-hash every artifact the signed manifest lists and check the signature with KMS.

        The answer is a report, valid or not; only a package that was never built is refused.
        """
        authorize(caller.principal, "VerifyEdgePackage", Resource.model(model_id))
        package = self._require(model_id, package_id)
        if package.status is not EdgePackageStatus.READY:
            raise EdgePackageNotReady(
                f"Edge package {package_id} is {package.status.value}: only a ready package can be verified."
            )
        prefix = package_prefix(model_id, package_id)
        problems: list[str] = []
        data = self._files.read(prefix + MANIFEST_NAME)
        signature = self._files.read(prefix + SIGNATURE_NAME)
        signature_valid = False
        if data is None:
            problems.append(f"{MANIFEST_NAME} is missing.")
        if signature is None:
            problems.append(f"{SIGNATURE_NAME} is missing.")
        if data is not None and signature is not None:
            signature_valid = self._signer.verify(data, signature)
            if not signature_valid:
                problems.append(
                    f"The signature does not verify: {MANIFEST_NAME} or {SIGNATURE_NAME} was changed."
                )
        if data is not None and hashlib.sha256(data).hexdigest() != package.manifest_sha256:
            problems.append(f"{MANIFEST_NAME} differs from the manifest recorded when the package was built.")
        document = _parsed(data, EdgeManifest)
        checks: list[ArtifactCheck] = []
        if data is not None and document is None:
            problems.append(f"{MANIFEST_NAME} is not a valid manifest.")
        if document is not None:
            if (document.package_id, document.model_id) != (package_id, model_id):
                problems.append(f"{MANIFEST_NAME} belongs to another package.")
            actual: dict[str, str | None] = {}
            for artifact in document.artifacts:
                if not safe_artifact_name(artifact.name):
                    problems.append(f"{artifact.name!r} is not a name inside the package.")
                    continue
                found = self._files.sha256(prefix + artifact.name)
                actual[artifact.name] = None if found is None else found[0]
            checks, artifact_problems = compare_artifacts(document.artifacts, actual)
            problems.extend(artifact_problems)
        return EdgePackageVerification(
            package_id=package_id,
            model_id=model_id,
            valid=signature_valid and not problems,
            signature_valid=signature_valid,
            artifacts=checks,
            problems=problems,
            checked_at=self._clock(),
        )

    def _require(self, model_id: str, package_id: str) -> EdgePackage:
        package = self._store.get(model_id, package_id)
        if package is None:
            raise EdgePackageNotFound(f"Model '{model_id}' has no edge package {package_id}.")
        return package

    def _packageable_version(self, model_id: str, number: int) -> ModelVersion:
        model = self._registry.model(model_id)
        if model is None:
            raise ModelNotFound(f"No model '{model_id}' is registered.")
        if model.retired:
            raise ModelRetired(f"Model '{model_id}' is retired.")
        version = self._registry.version(model_id, number)
        if version is None:
            raise VersionNotFound(f"Model '{model_id}' has no version {number}.")
        if version.retired:
            raise VersionRetired(f"Version {number} of '{model_id}' is retired.")
        if version.approval_status is not ApprovalStatus.APPROVED:
            raise VersionNotApproved(
                f"Version {number} of '{model_id}' is {version.approval_status.value}: "
                "only approved versions are packaged for devices."
            )
        return version


def _parsed_json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _parsed(data: bytes | None, model: type[ModelT]) -> ModelT | None:
    """`data` as `model`, None when missing or not valid (a tampered file is reported, not raised)."""
    if data is None:
        return None
    try:
        return model.model_validate_json(data)
    except ValidationError:
        return None


def _failure(now: datetime, step: str, cause: str) -> dict[str, Any]:
    return {
        "status": EdgePackageStatus.FAILED.value,
        "failed_step": step,
        "cause": cause[:MAX_CAUSE],
        "finished_at": now.isoformat(),
        "updated_at": now.isoformat(),
    }


# -- the state machine's steps ------------------------------------------------------------------------


class EdgeSteps:
    """The tasks of `statemachines/edge_package.asl.json`; each is safe to retry."""

    def __init__(
        self,
        store: EdgeStorePort,
        compiler: Compiler,
        files: Files,
        signer: Signer,
        events: EventSink,
        *,
        role_arn: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._compiler = compiler
        self._files = files
        self._signer = signer
        self._events = events
        self._role_arn = role_arn
        self._clock = clock

    def start_compilation(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """`Start compilation`: CreateCompilationJob into the package's compiled/ folder."""
        package = self._package(document)
        if package.status not in (EdgePackageStatus.PENDING, EdgePackageStatus.COMPILING):
            raise EdgeStepError(
                f"Edge package {package.package_id} is {package.status.value}; it cannot compile."
            )
        self._compiler.start(compilation_request(package, self._role_arn))
        now = self._clock().isoformat()
        self._store.update(
            package.model_id,
            package.package_id,
            {"status": EdgePackageStatus.COMPILING.value, "updated_at": now},
            allowed_from=(EdgePackageStatus.PENDING, EdgePackageStatus.COMPILING),
        )
        return {"compilation_job_name": package.compilation_job_name, "attempts": 0, "done": False}

    def check_compilation(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """`Check compilation`: done, still running, or EdgeCompilationFailed (ended badly, or too long)."""
        job_name = str(document["compilation_job_name"])
        attempts = int(document.get("attempts", 0)) + 1
        max_attempts = int(document["max_attempts"])
        state = self._compiler.describe(job_name)
        if state.status == "COMPLETED":
            if not state.artifact:
                raise EdgeCompilationFailed(f"Compilation job {job_name} completed without a model artifact.")
            return {
                "compilation_job_name": job_name,
                "attempts": attempts,
                "done": True,
                "artifact": state.artifact,
            }
        if state.status in _ENDED_BADLY:
            reason = state.failure_reason or "no reason given"
            raise EdgeCompilationFailed(f"Compilation job {job_name} ended {state.status}: {reason}")
        if attempts >= max_attempts:
            raise EdgeCompilationFailed(
                f"Compilation job {job_name} was still {state.status} after {attempts} checks; "
                "it was given up."
            )
        return {"compilation_job_name": job_name, "attempts": attempts, "done": False, "artifact": None}

    def build_component(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """`Build component`: recipe, public key, signed manifest; the package becomes ready."""
        package = self._package(document)
        if package.status is EdgePackageStatus.READY:
            return {"status": package.status.value, "manifest_uri": package.manifest_uri}
        if not self._store.update(
            package.model_id,
            package.package_id,
            {"status": EdgePackageStatus.BUILDING.value, "updated_at": self._clock().isoformat()},
            allowed_from=(EdgePackageStatus.COMPILING, EdgePackageStatus.BUILDING),
        ):
            raise EdgeStepError(
                f"Edge package {package.package_id} is {package.status.value}; it cannot be built."
            )
        prefix = package_prefix(package.model_id, package.package_id)
        compiled_uri = str(document["artifact"])
        compiled_key = _key_of(self._files, compiled_uri)
        if compiled_key is None or not compiled_key.startswith(f"{prefix}{COMPILED_FOLDER}/"):
            raise EdgeStepError(
                f"The compiled artifact {compiled_uri} is not in the package's {COMPILED_FOLDER}/ folder."
            )
        compiled_name = compiled_key.removeprefix(prefix)
        compiled = self._files.sha256(compiled_key)
        if compiled is None:
            raise EdgeStepError(f"The compiled artifact {compiled_uri} does not exist.")
        der = self._signer.public_key_der()
        public_key = pem_of(der).encode("ascii")
        recipe_document = recipe(package, compiled_name.rsplit("/", 1)[-1], package.package_uri)
        recipe_data = (json.dumps(recipe_document, indent=2) + "\n").encode("utf-8")
        self._files.put(prefix + RECIPE_NAME, recipe_data, "application/json")
        self._files.put(prefix + PUBLIC_KEY_NAME, public_key, "application/x-pem-file")
        signing = EdgeSigning(
            key_id=self._signer.key_id,
            algorithm=self._signer.algorithm,
            public_key_sha256=hashlib.sha256(der).hexdigest(),
        )
        now = self._clock()
        document_ = manifest(
            package,
            [
                ManifestArtifact(name=compiled_name, sha256=compiled[0], size=compiled[1]),
                _artifact(RECIPE_NAME, recipe_data),
                _artifact(PUBLIC_KEY_NAME, public_key),
            ],
            signing,
            now,
        )
        data = manifest_bytes(document_)
        signature = self._signer.sign(data)
        self._files.put(prefix + MANIFEST_NAME, data, "application/json")
        self._files.put(prefix + SIGNATURE_NAME, signature, "application/octet-stream")
        manifest_sha256 = hashlib.sha256(data).hexdigest()
        self._store.update(
            package.model_id,
            package.package_id,
            {
                "status": EdgePackageStatus.READY.value,
                "compiled_artifact_uri": compiled_uri,
                "manifest_sha256": manifest_sha256,
                "signature": base64.b64encode(signature).decode("ascii"),
                "signing": signing.model_dump(mode="json"),
                "public_key_pem": public_key.decode("ascii"),
                "finished_at": now.isoformat(),
                "updated_at": now.isoformat(),
            },
            allowed_from=(EdgePackageStatus.BUILDING,),
        )
        self._events.publish([_created_event(package, document_, manifest_sha256, now)])
        return {"status": EdgePackageStatus.READY.value, "manifest_uri": package.manifest_uri}

    def record_failure(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """`Record failure`: the package is failed, with the step that failed and why."""
        package = self._package(document)
        if package.status in TERMINAL_STATUSES:
            return {"status": package.status.value}
        error = document.get("error") or {}
        step = _FAILED_STEP.get(package.status, "Unknown")
        cause = failure_cause(error)
        self._store.update(
            package.model_id, package.package_id, _failure(self._clock(), step, cause), allowed_from=_LIVE
        )
        return {"status": EdgePackageStatus.FAILED.value, "failed_step": step, "cause": cause[:MAX_CAUSE]}

    def _package(self, document: Mapping[str, Any]) -> EdgePackage:
        model_id, package_id = str(document.get("model_id", "")), str(document.get("package_id", ""))
        package = self._store.get(model_id, package_id)
        if package is None:
            raise EdgeStepError(f"No edge package {package_id} of model '{model_id}' is recorded.")
        return package


def compilation_request(package: EdgePackage, role_arn: str) -> dict[str, Any]:
    """CreateCompilationJob's request: the version's model into the package's compiled/ folder."""
    request = package.request
    input_config: dict[str, Any] = {
        "S3Uri": package.model_artifact,
        "DataInputConfig": request.data_input_config,
        "Framework": request.framework.value,
    }
    if request.framework_version is not None:
        input_config["FrameworkVersion"] = request.framework_version
    output_config: dict[str, Any] = {"S3OutputLocation": f"{package.package_uri}{COMPILED_FOLDER}/"}
    if request.target_device is not None:
        output_config["TargetDevice"] = request.target_device.value
    elif request.target_platform is not None:
        output_config["TargetPlatform"] = request.target_platform.neo()
    return {
        "CompilationJobName": package.compilation_job_name,
        "RoleArn": role_arn,
        "InputConfig": input_config,
        "OutputConfig": output_config,
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_COMPILATION_SECONDS},
        "Tags": [
            {"Key": "cirrus:model_id", "Value": package.model_id},
            {"Key": "cirrus:package_id", "Value": package.package_id},
        ],
    }


def failure_cause(error: Mapping[str, Any]) -> str:
    """A Step Functions error (`{Error, Cause}`) in a sentence: a Lambda's own message when it has one."""
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = cause if isinstance(cause, str) else ""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        message = str(parsed["errorMessage"])
    return f"{name}: {message}" if message else name


def _artifact(name: str, data: bytes) -> ManifestArtifact:
    return ManifestArtifact(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _created_event(
    package: EdgePackage, document: EdgeManifest, manifest_sha256: str, now: datetime
) -> LifecycleEvent:
    return LifecycleEvent(
        "edge.package_created",
        data={
            "package_id": package.package_id,
            "model_id": package.model_id,
            "version": package.version,
            "component_name": package.component_name,
            "component_version": package.component_version,
            "compilation": package.compilation.value,
            "compilation_job_name": package.compilation_job_name,
            "target": document.target["name"],
            "package_uri": package.package_uri,
            "manifest_uri": package.manifest_uri,
            "manifest_sha256": manifest_sha256,
            "artifact_count": len(document.artifacts),
        },
        actor=package.created_by,
        occurred_at=now,
    )
