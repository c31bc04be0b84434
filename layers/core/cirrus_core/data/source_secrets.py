"""Secrets Manager adapter of data sources: one secret per source, `<prefix>/<source name>`.

Each write adds a version; the source item names the secret's ARN and the version it was saved with,
so a connector reads exactly that secret. A deleted source's secret is scheduled for deletion with a
recovery window; a source created again under the same name restores it and adds a version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_secretsmanager import SecretsManagerClient

# The shortest window Secrets Manager allows: long enough to undo a mistaken delete.
RECOVERY_WINDOW_DAYS: Final = 7


@dataclass(frozen=True)
class StoredSecret:
    """Where a source's secret was written; `created` when this write made the secret itself."""

    arn: str
    version_id: str
    created: bool


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SourceSecrets:
    """The secrets of data sources, encrypted with the data key when one is given."""

    def __init__(self, client: SecretsManagerClient, prefix: str, kms_key_id: str = "") -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._kms_key_id = kms_key_id

    def secret_name(self, source: str) -> str:
        return f"{self._prefix}/{source}"

    def put(self, source: str, secret: Mapping[str, str]) -> StoredSecret:
        """Store a source's secret fields: a new secret, or a new version of one left behind."""
        name = self.secret_name(source)
        text = json.dumps(dict(secret), separators=(",", ":"))
        request: dict[str, Any] = {
            "Name": name,
            "SecretString": text,
            "Description": f"Cirrus data source {source}: the connection's secret fields.",
            "Tags": [{"Key": "project", "Value": "cirrus"}, {"Key": "cirrus:data-source", "Value": source}],
        }
        if self._kms_key_id:
            request["KmsKeyId"] = self._kms_key_id
        try:
            created = self._client.create_secret(**request)
            return StoredSecret(str(created["ARN"]), str(created["VersionId"]), created=True)
        except ClientError as error:
            # A secret of that name exists: left by a deleted source (scheduled for deletion, which
            # AWS reports as InvalidRequestException) or by a creation that did not finish.
            if _code(error) not in {"ResourceExistsException", "InvalidRequestException"}:
                raise
            existing = self._client.describe_secret(SecretId=name)
            if existing.get("DeletedDate") is not None:
                self._client.restore_secret(SecretId=name)
            elif _code(error) != "ResourceExistsException":
                raise
        written = self._client.put_secret_value(SecretId=name, SecretString=text)
        return StoredSecret(str(written["ARN"]), str(written["VersionId"]), created=False)

    def read(self, arn: str, version_id: str) -> dict[str, str]:
        """The secret fields of the given version."""
        response = self._client.get_secret_value(SecretId=arn, VersionId=version_id)
        document = json.loads(response["SecretString"])
        return {str(key): str(value) for key, value in document.items()}

    def discard(self, source: str, *, created: bool) -> None:
        """Undo `put` for a source that was not stored: at once when `put` made the secret."""
        if created:
            self._delete(source, ForceDeleteWithoutRecovery=True)
        else:
            self._delete(source, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)

    def delete(self, source: str) -> None:
        """Schedule a deleted source's secret for deletion after the recovery window."""
        self._delete(source, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)

    def _delete(self, source: str, **window: Any) -> None:
        try:
            self._client.delete_secret(SecretId=self.secret_name(source), **window)
        except ClientError as error:
            # Gone already, or already scheduled for deletion: what was asked holds.
            if _code(error) not in {"ResourceNotFoundException", "InvalidRequestException"}:
                raise
