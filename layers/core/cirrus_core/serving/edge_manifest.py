"""What an edge package holds, as pure functions: the Greengrass v2 recipe, the manifest, and the checks.

A package is a folder `edge/<model_id>/<package_id>/` in the artifact bucket:

  compiled/<name>-<target>.tar.gz   Neo's output (on the local cloud: the model, unchanged)
  recipe.json                       the Greengrass v2 component recipe
  public_key.pem                    the public half of the signing key
  manifest.json                     canonical JSON listing each file above with its SHA-256 and size
  manifest.sig                      the KMS signature (DER) over manifest.json's exact bytes

The signature covers the manifest's bytes as stored, so `openssl dgst -sha256 -verify public_key.pem
-signature manifest.sig manifest.json` checks it on a device, and the manifest's hashes then vouch
for every other file. The server-side and offline verifiers share `compare_artifacts`.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from cirrus_core.serving.edge_models import (
    ArtifactCheck,
    Compilation,
    EdgeManifest,
    EdgePackage,
    ManifestArtifact,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from cirrus_core.serving.edge_models import EdgeSigning

MANIFEST_FORMAT = "cirrus.edge-package/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RECIPE_NAME = "recipe.json"
PUBLIC_KEY_NAME = "public_key.pem"
COMPILED_FOLDER = "compiled"
RECIPE_FORMAT_VERSION = "2020-01-25"
# KMS Sign takes at most 4096 bytes of RAW message; a manifest of a handful of files is far below.
MAX_SIGNED_BYTES = 4096
_CHUNK = 1024 * 1024


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: equal documents give equal bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Sha256Sink:
    """Hashes and counts bytes as they stream past (artifacts are never held whole in memory)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def sha256_of_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stream of chunks."""
    sink = Sha256Sink()
    for chunk in chunks:
        sink.update(chunk)
    return sink.hexdigest(), sink.size


def compilation_note(compilation: Compilation, target: str) -> str:
    """What the compilation did, in a sentence (the local cloud says plainly that nothing was compiled)."""
    if compilation is Compilation.EMULATED:
        return (
            "Emulated by the local cloud: SageMaker Neo does not run there, so the model was packaged "
            f"unchanged, not compiled for {target}."
        )
    return f"Compiled by SageMaker Neo for {target}."


def package_prefix(model_id: str, package_id: str) -> str:
    """The package's folder (key prefix) in the artifact bucket."""
    return f"edge/{model_id}/{package_id}/"


def recipe(package: EdgePackage, compiled_file: str, package_uri: str) -> dict[str, Any]:
    """The Greengrass v2 component recipe: one manifest for the target's platform.

    Greengrass unarchives ZIP only, so Install extracts Neo's .tar.gz itself into the component's
    work folder; Run reports where the model is (other components depend on this one to use it).
    """
    platform = package.request.greengrass_platform()
    base = package_uri.rstrip("/")
    model_uri = f"{base}/{COMPILED_FOLDER}/{compiled_file}"
    if platform.os == "windows":
        install = (
            "powershell -NoProfile -Command \"New-Item -ItemType Directory -Force -Path '{work:path}\\model' "
            f"| Out-Null; tar -xzf '{{artifacts:path}}\\{compiled_file}' -C '{{work:path}}\\model'\""
        )
        run = f"cmd /c echo Model {package.model_id} v{package.version} is installed in {{work:path}}\\model"
    else:
        install = (
            "mkdir -p {work:path}/model && "
            f"tar -xzf {{artifacts:path}}/{compiled_file} -C {{work:path}}/model"
        )
        run = f"echo 'Model {package.model_id} v{package.version} is installed in {{work:path}}/model'"
    read_only = {"Read": "OWNER", "Execute": "NONE"}
    return {
        "RecipeFormatVersion": RECIPE_FORMAT_VERSION,
        "ComponentName": package.component_name,
        "ComponentVersion": package.component_version,
        "ComponentDescription": (
            f"Cirrus model {package.model_id} version {package.version} for {package.request.target_name()}. "
            f"{package.compilation_note}"
        ),
        "ComponentPublisher": "Cirrus",
        "Manifests": [
            {
                "Platform": platform.model_dump(),
                "Lifecycle": {"Install": {"Script": install}, "Run": {"Script": run}},
                "Artifacts": [
                    {"URI": model_uri, "Unarchive": "NONE", "Permission": read_only},
                    *(
                        {"URI": f"{base}/{name}", "Unarchive": "NONE", "Permission": read_only}
                        for name in (MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME)
                    ),
                ],
            }
        ],
    }


def manifest(
    package: EdgePackage,
    artifacts: Iterable[ManifestArtifact],
    signing: EdgeSigning,
    created_at: datetime,
) -> EdgeManifest:
    """The manifest of a package's files (sorted by name, so equal packages give equal manifests)."""
    request = package.request
    target: dict[str, Any] = {
        "name": request.target_name(),
        "greengrass_platform": request.greengrass_platform().model_dump(),
    }
    if request.target_device is not None:
        target["device"] = request.target_device.value
    if request.target_platform is not None:
        target["platform"] = request.target_platform.model_dump(mode="json", exclude_none=True)
    return EdgeManifest(
        format=MANIFEST_FORMAT,
        package_id=package.package_id,
        model_id=package.model_id,
        version=package.version,
        component_name=package.component_name,
        component_version=package.component_version,
        compilation=package.compilation,
        compilation_note=package.compilation_note,
        target=target,
        created_at=created_at,
        signing=signing,
        artifacts=sorted(artifacts, key=lambda artifact: artifact.name),
    )


def manifest_bytes(document: EdgeManifest) -> bytes:
    """manifest.json's bytes: the canonical JSON of the manifest, which is what gets signed."""
    data = canonical_json(document.model_dump(mode="json"))
    if len(data) > MAX_SIGNED_BYTES:
        raise ValueError(f"the manifest is {len(data)} bytes; KMS signs at most {MAX_SIGNED_BYTES}")
    return data


def compare_artifacts(
    expected: Iterable[ManifestArtifact], actual: Mapping[str, str | None]
) -> tuple[list[ArtifactCheck], list[str]]:
    """Each listed artifact against the hash found for it (None: missing or unreadable), and the problems."""
    checks: list[ArtifactCheck] = []
    problems: list[str] = []
    for artifact in expected:
        found = actual.get(artifact.name)
        ok = found == artifact.sha256
        checks.append(
            ArtifactCheck(name=artifact.name, expected_sha256=artifact.sha256, actual_sha256=found, ok=ok)
        )
        if found is None:
            problems.append(f"{artifact.name} is missing or unreadable.")
        elif not ok:
            problems.append(
                f"{artifact.name} does not match its SHA-256 in the manifest (changed since signing)."
            )
    return checks, problems


def safe_artifact_name(name: str) -> bool:
    """Whether a manifest name stays inside the package folder (no absolute paths, no `..`)."""
    parts = name.split("/")
    return (
        bool(name)
        and not name.startswith("/")
        and "\\" not in name
        and all(part not in ("", ".", "..") for part in parts)
    )
