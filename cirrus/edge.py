"""Verifying a downloaded edge package on the device side: no AWS credentials, only its public key.

    report = verify_directory(Path("package"), public_key_pem=Path("edge-signing.pem").read_bytes())

The directory holds the package's files as `aws s3 cp --recursive <package_uri> package/` leaves them
(manifest.json, manifest.sig, recipe.json, public_key.pem, compiled/...). The signature is checked
over manifest.json's exact bytes with the public key, then every file the manifest lists is
re-hashed. Without `public_key_pem` the package's own public_key.pem is used: that proves the files
are intact, not who signed them, and the report says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pydantic import ValidationError

from cirrus_core.serving.edge_manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    compare_artifacts,
    safe_artifact_name,
    sha256_of_chunks,
)
from cirrus_core.serving.edge_models import ArtifactCheck, EdgeManifest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_CHUNK = 1024 * 1024
BUNDLED_KEY_NOTE = (
    "The signature was checked with the package's own public_key.pem: that proves the files are intact, "
    "not who signed them. Pass the platform's public key to prove that too."
)


@dataclass
class OfflineVerification:
    """What `cirrus edge verify --dir` reports."""

    valid: bool
    signature_valid: bool
    artifacts: list[ArtifactCheck]
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    manifest: EdgeManifest | None = None


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def signature_valid(public_key_pem: bytes, algorithm: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` (DER, as KMS returns it) signs `message` under the key and KMS algorithm."""
    key = serialization.load_pem_public_key(public_key_pem)
    try:
        if algorithm == "ECDSA_SHA_256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RSASSA_PSS_SHA_256" and isinstance(key, rsa.RSAPublicKey):
            # KMS's PSS salt is as long as the digest.
            key.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_directory(directory: Path, public_key_pem: bytes | None = None) -> OfflineVerification:
    """Check a package folder against its signed manifest; every problem found is reported."""
    problems: list[str] = []
    notes: list[str] = []
    manifest_path, signature_path = directory / MANIFEST_NAME, directory / SIGNATURE_NAME
    if not manifest_path.is_file() or not signature_path.is_file():
        missing = [path.name for path in (manifest_path, signature_path) if not path.is_file()]
        return OfflineVerification(False, False, [], [f"{name} is missing." for name in missing])
    data = manifest_path.read_bytes()
    try:
        document = EdgeManifest.model_validate_json(data)
    except ValidationError:
        return OfflineVerification(False, False, [], [f"{MANIFEST_NAME} is not a valid manifest."])
    if public_key_pem is None:
        bundled = directory / PUBLIC_KEY_NAME
        if not bundled.is_file():
            return OfflineVerification(
                False, False, [], [f"No public key given and {PUBLIC_KEY_NAME} is missing."]
            )
        public_key_pem = bundled.read_bytes()
        notes.append(BUNDLED_KEY_NOTE)
    key_der = serialization.load_pem_public_key(public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if hashlib.sha256(key_der).hexdigest() != document.signing.public_key_sha256:
        problems.append("The public key is not the key the manifest names as its signer.")
    valid_signature = signature_valid(
        public_key_pem, document.signing.algorithm, data, signature_path.read_bytes()
    )
    if not valid_signature:
        problems.append(f"The signature does not verify: {MANIFEST_NAME} or {SIGNATURE_NAME} was changed.")
    actual: dict[str, str | None] = {}
    for artifact in document.artifacts:
        path = directory / artifact.name
        if not safe_artifact_name(artifact.name):
            problems.append(f"{artifact.name!r} is not a name inside the package.")
        elif path.is_file():
            actual[artifact.name] = sha256_of_chunks(_chunks(path))[0]
    checks, artifact_problems = compare_artifacts(document.artifacts, actual)
    problems.extend(artifact_problems)
    return OfflineVerification(
        valid=valid_signature and not problems,
        signature_valid=valid_signature,
        artifacts=checks,
        problems=problems,
        notes=notes,
        manifest=document,
    )
