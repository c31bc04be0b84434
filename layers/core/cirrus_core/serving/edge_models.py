"""Edge package request and response models (docs/serving.md, "edge package"). The OpenAPI document
is generated from these.

A target is a Neo `TargetDevice` that IoT Greengrass v2 core devices run on, or a Neo
`TargetPlatform` (Linux only: Greengrass v2 has no Android nucleus). Each maps to the Greengrass
platform (`os`, `architecture`) its component manifest selects.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from cirrus_core.registry.models import ModelId, VersionNumber

PACKAGE_ID_PATTERN = r"^[0-9a-f]{32}$"
# Greengrass component names: letters, digits and . _ - (reverse-DNS by convention).
COMPONENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_DATA_INPUT_CONFIG = 1024  # Neo's limit on InputConfig.DataInputConfig
MAX_INPUTS = 16
MAX_DIMENSIONS = 8
MAX_DIMENSION = 2**31 - 1

PackageId = Annotated[str, StringConstraints(pattern=PACKAGE_ID_PATTERN)]
ComponentName = Annotated[str, StringConstraints(pattern=COMPONENT_NAME_PATTERN, max_length=128)]
# Neo's InputConfig.FrameworkVersion pattern.
NeoFrameworkVersion = Annotated[
    str, StringConstraints(pattern=r"^[0-9]\.[A-Za-z0-9.]+$", min_length=3, max_length=10)
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Framework(StrEnum):
    """Neo's InputConfig.Framework values Cirrus packages."""

    SKLEARN = "SKLEARN"
    XGBOOST = "XGBOOST"
    PYTORCH = "PYTORCH"
    TENSORFLOW = "TENSORFLOW"
    ONNX = "ONNX"
    TFLITE = "TFLITE"
    MXNET = "MXNET"
    KERAS = "KERAS"


# Neo accepts FrameworkVersion for these frameworks only.
VERSIONED_FRAMEWORKS = frozenset({Framework.MXNET, Framework.PYTORCH, Framework.TENSORFLOW, Framework.TFLITE})


class EdgeDevice(StrEnum):
    """Neo target devices that run IoT Greengrass v2 (cloud targets such as ml_c5 are not edge devices)."""

    JETSON_TX1 = "jetson_tx1"
    JETSON_TX2 = "jetson_tx2"
    JETSON_NANO = "jetson_nano"
    JETSON_XAVIER = "jetson_xavier"
    RASP3B = "rasp3b"
    RASP4B = "rasp4b"
    IMX8QM = "imx8qm"
    IMX8MPLUS = "imx8mplus"
    RK3399 = "rk3399"
    RK3288 = "rk3288"
    SITARA_AM57X = "sitara_am57x"
    JACINTO_TDA4VM = "jacinto_tda4vm"
    DEEPLENS = "deeplens"
    X86_WIN32 = "x86_win32"
    X86_WIN64 = "x86_win64"


class PlatformOs(StrEnum):
    """Neo TargetPlatform.Os values Greengrass v2 runs on (ANDROID is not one)."""

    LINUX = "LINUX"


class PlatformArch(StrEnum):
    X86_64 = "X86_64"
    X86 = "X86"
    ARM64 = "ARM64"
    ARM_EABI = "ARM_EABI"
    ARM_EABIHF = "ARM_EABIHF"


class PlatformAccelerator(StrEnum):
    INTEL_GRAPHICS = "INTEL_GRAPHICS"
    MALI = "MALI"
    NVIDIA = "NVIDIA"


class GreengrassPlatform(BaseModel):
    """The `Platform` of a Greengrass v2 recipe manifest."""

    os: str = Field(description="linux or windows.")
    architecture: str = Field(description="amd64, x86, aarch64 or arm.")


_ARM32 = GreengrassPlatform(os="linux", architecture="arm")
_ARM64 = GreengrassPlatform(os="linux", architecture="aarch64")
DEVICE_PLATFORMS: dict[EdgeDevice, GreengrassPlatform] = {
    EdgeDevice.JETSON_TX1: _ARM64,
    EdgeDevice.JETSON_TX2: _ARM64,
    EdgeDevice.JETSON_NANO: _ARM64,
    EdgeDevice.JETSON_XAVIER: _ARM64,
    EdgeDevice.RASP3B: _ARM32,
    EdgeDevice.RASP4B: _ARM64,
    EdgeDevice.IMX8QM: _ARM64,
    EdgeDevice.IMX8MPLUS: _ARM64,
    EdgeDevice.RK3399: _ARM64,
    EdgeDevice.RK3288: _ARM32,
    EdgeDevice.SITARA_AM57X: _ARM32,
    EdgeDevice.JACINTO_TDA4VM: _ARM64,
    EdgeDevice.DEEPLENS: GreengrassPlatform(os="linux", architecture="amd64"),
    EdgeDevice.X86_WIN32: GreengrassPlatform(os="windows", architecture="x86"),
    EdgeDevice.X86_WIN64: GreengrassPlatform(os="windows", architecture="amd64"),
}
ARCH_PLATFORMS: dict[PlatformArch, str] = {
    PlatformArch.X86_64: "amd64",
    PlatformArch.X86: "x86",
    PlatformArch.ARM64: "aarch64",
    PlatformArch.ARM_EABI: "arm",
    PlatformArch.ARM_EABIHF: "arm",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetPlatform(_Strict):
    """Neo's TargetPlatform: a generic OS, architecture and optional accelerator."""

    os: PlatformOs
    arch: PlatformArch
    accelerator: PlatformAccelerator | None = None

    def neo(self) -> dict[str, str]:
        """OutputConfig.TargetPlatform in Neo's words."""
        platform = {"Os": self.os.value, "Arch": self.arch.value}
        if self.accelerator is not None:
            platform["Accelerator"] = self.accelerator.value
        return platform


def parse_data_input_config(text: str) -> dict[str, list[int]]:
    """Neo's DataInputConfig as Cirrus accepts it: a JSON object of input name -> shape.

    Raises ValueError naming what is wrong.
    """
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(document, dict) or not document:
        raise ValueError('must be a JSON object of input name -> shape, such as {"input0": [1, 3, 224, 224]}')
    if len(document) > MAX_INPUTS:
        raise ValueError(f"at most {MAX_INPUTS} inputs")
    shapes: dict[str, list[int]] = {}
    for name, shape in document.items():
        if not name.strip() or len(name) > 256:
            raise ValueError("input names must be 1 to 256 characters")
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= MAX_DIMENSIONS
            or any(
                isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIMENSION
                for dim in shape
            )
        ):
            raise ValueError(
                f"the shape of {name!r} must be a list of 1 to {MAX_DIMENSIONS} positive integers"
            )
        shapes[name] = shape
    return shapes


class CreateEdgePackageRequest(_Strict):
    """Body of POST /models/{model_id}/edge-packages: what to compile, and for which target."""

    version: VersionNumber = Field(description="The version to package; it must be approved and not retired.")
    target_device: EdgeDevice | None = Field(
        default=None,
        description="A Neo target device that runs Greengrass v2. Give exactly one of the two targets.",
    )
    target_platform: TargetPlatform | None = Field(
        default=None,
        description="A Neo target platform (os, arch, accelerator). Give exactly one of the two targets.",
    )
    framework: Framework = Field(description="The framework the model was trained with (Neo's Framework).")
    framework_version: NeoFrameworkVersion | None = Field(
        default=None, description="Neo's FrameworkVersion (MXNET, PYTORCH, TENSORFLOW and TFLITE only)."
    )
    data_input_config: str = Field(
        min_length=2,
        max_length=MAX_DATA_INPUT_CONFIG,
        description=(
            "The model's input shapes as a JSON object string, as Neo's DataInputConfig: "
            '{"input0": [1, 3, 224, 224]}.'
        ),
    )
    component_name: ComponentName | None = Field(
        default=None, description="The Greengrass component's name; com.cirrus.<model_id> by default."
    )

    @field_validator("data_input_config")
    @classmethod
    def _shapes(cls, value: str) -> str:
        parse_data_input_config(value)
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.target_device is None) == (self.target_platform is None):
            raise ValueError("give exactly one of target_device and target_platform")
        if self.framework_version is not None and self.framework not in VERSIONED_FRAMEWORKS:
            raise ValueError(f"framework_version applies to {', '.join(sorted(VERSIONED_FRAMEWORKS))} only")
        return self

    def target_name(self) -> str:
        """How Neo names the target in its artifact: the device, or OS_ARCH[_ACCELERATOR]."""
        if self.target_device is not None:
            return self.target_device.value
        return "_".join(self._platform().neo().values())

    def greengrass_platform(self) -> GreengrassPlatform:
        """The Greengrass platform the component's manifest selects."""
        if self.target_device is not None:
            return DEVICE_PLATFORMS[self.target_device]
        return GreengrassPlatform(os="linux", architecture=ARCH_PLATFORMS[self._platform().arch])

    def _platform(self) -> TargetPlatform:
        if self.target_platform is None:  # the model validator requires a device or a platform
            raise ValueError("an edge package names a target_device or a target_platform")
        return self.target_platform


class EdgePackageStatus(StrEnum):
    """pending (recorded, machine starting) -> compiling -> building -> ready; or failed."""

    PENDING = "pending"
    COMPILING = "compiling"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


TERMINAL_STATUSES = frozenset({EdgePackageStatus.READY, EdgePackageStatus.FAILED})


class Compilation(StrEnum):
    """How the model was compiled: by SageMaker Neo, or emulated by the local cloud (copied unchanged)."""

    NEO = "neo"
    EMULATED = "emulated"


class ManifestArtifact(BaseModel):
    """One file of the package, as the signed manifest lists it."""

    name: str = Field(description="Path relative to the package's folder, such as recipe.json.")
    sha256: Sha256
    size: int = Field(ge=0)


class EdgeSigning(BaseModel):
    """How the manifest is signed: the KMS key, the algorithm and the key's public half."""

    key_id: str = Field(description="ARN of the KMS key (KeyUsage SIGN_VERIFY) that signed the manifest.")
    algorithm: str = Field(description="The KMS signing algorithm, such as ECDSA_SHA_256.")
    public_key_sha256: Sha256 = Field(description="SHA-256 of the public key's DER (SubjectPublicKeyInfo).")


class EdgeManifest(BaseModel):
    """manifest.json: every artifact of the package with its SHA-256 and size, and what it packages."""

    format: str = Field(description="cirrus.edge-package/1")
    package_id: PackageId
    model_id: ModelId
    version: int
    component_name: str
    component_version: str
    compilation: Compilation
    compilation_note: str
    target: dict[str, Any]
    created_at: datetime
    signing: EdgeSigning
    artifacts: list[ManifestArtifact]


class EdgePackage(BaseModel):
    """An edge package: its request, where its build stands, and what it produced."""

    package_id: PackageId
    model_id: ModelId
    version: int
    status: EdgePackageStatus
    request: CreateEdgePackageRequest
    model_artifact: str = Field(description="The version's model.tar.gz the compilation read.")
    compilation_job_name: str
    compilation: Compilation = Field(
        description="neo on AWS; emulated on the local cloud, whose compilation packages the model unchanged."
    )
    compilation_note: str = Field(description="What the compilation did, in a sentence.")
    component_name: str
    component_version: str = Field(description="<version>.0.0")
    package_uri: str = Field(description="s3:// folder holding every artifact of the package.")
    manifest_uri: str
    recipe_uri: str
    compiled_artifact_uri: str | None = None
    manifest_sha256: Sha256 | None = None
    signature: str | None = Field(default=None, description="Base64 of the manifest's signature (DER).")
    signing: EdgeSigning | None = None
    public_key_pem: str | None = Field(default=None, description="The signing key's public half (PEM).")
    execution_arn: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    failed_step: str | None = None
    cause: str | None = None
    links: dict[str, str] = Field(default_factory=dict)


class EdgePackageDetail(EdgePackage):
    """A package with its manifest and Greengrass recipe (once ready)."""

    manifest: EdgeManifest | None = None
    recipe: dict[str, Any] | None = None


class EdgePackagePage(BaseModel):
    items: list[EdgePackage]
    next_token: str | None = None


class ArtifactCheck(BaseModel):
    """One artifact, re-hashed: `actual_sha256` is null when it could not be read."""

    name: str
    expected_sha256: str
    actual_sha256: str | None
    ok: bool


class EdgePackageVerification(BaseModel):
    """GET .../verification: every artifact re-hashed and the manifest's signature checked by KMS."""

    package_id: PackageId
    model_id: ModelId
    valid: bool = Field(description="True when the signature verifies and every artifact matches.")
    signature_valid: bool
    artifacts: list[ArtifactCheck]
    problems: list[str] = Field(description="Each thing that is wrong, in a sentence; empty when valid.")
    checked_at: datetime
