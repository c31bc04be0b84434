"""Where model artifacts may live: the platform's artifact bucket, or an explicit allowlist.

The check is on the raw string, before anything decodes it, and is strict on purpose: an artifact
URI that needs decoding, normalising or guessing is refused rather than interpreted.
"""

from __future__ import annotations

import re

from cirrus_core.errors import InvalidArtifactLocation, UnprocessableEntity

MAX_URI_LENGTH = 1024
# S3 bucket names: 3-63 chars, lowercase letters, digits, dots and hyphens, starting and ending alnum.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Keys: a conservative, unambiguous subset. No '%' (no encoding at all), no '\', '?', '#', controls.
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=+,;@ -]+$")


def _refuse(reason: str, uri: str, field: str, error: type[UnprocessableEntity]) -> UnprocessableEntity:
    return error(f"{field}: {reason}", [{"field": field, "value": uri[:200]}])


def check_s3_uri(
    uri: str,
    allowed_buckets: frozenset[str] | None,
    *,
    field: str = "artifact_location",
    error: type[UnprocessableEntity] = InvalidArtifactLocation,
    prefix_allowed: bool = False,
) -> tuple[str, str]:
    """Return (bucket, key) of a safe s3:// URI, or raise `error`.

    `allowed_buckets` None means any well-formed bucket (used for lineage references);
    `prefix_allowed` accepts a key ending in `/` (a dataset is often a prefix, an artifact never).
    """
    if len(uri) > MAX_URI_LENGTH:
        raise _refuse(f"The URI is longer than {MAX_URI_LENGTH} characters.", uri, field, error)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in uri):
        raise _refuse("The URI contains control characters.", uri, field, error)
    if not uri.startswith("s3://"):
        raise _refuse("Only s3:// URIs are accepted.", uri, field, error)
    for forbidden, what in (
        ("%", "percent-encoding"),
        ("\\", "backslashes"),
        ("?", "a query string"),
        ("#", "a fragment"),
    ):
        if forbidden in uri:
            raise _refuse(f"The URI may not contain {what}.", uri, field, error)
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise _refuse("The bucket name is not a valid S3 bucket name.", uri, field, error)
    if allowed_buckets is not None and bucket not in allowed_buckets:
        raise _refuse(
            "The bucket is not the platform's artifact bucket nor on the allowlist.", uri, field, error
        )
    if not key or (key.endswith("/") and not prefix_allowed):
        raise _refuse("The URI must name an object, not a bucket or a prefix.", uri, field, error)
    segments = key.removesuffix("/").split("/") if prefix_allowed else key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise _refuse("The key may not contain empty, '.' or '..' segments.", uri, field, error)
        if not _KEY_SEGMENT.fullmatch(segment):
            raise _refuse("The key contains characters outside the accepted set.", uri, field, error)
    return bucket, key


def allowed_artifact_buckets(artifact_bucket: str, allowlist: tuple[str, ...]) -> frozenset[str]:
    """The buckets artifact locations may point into."""
    return frozenset(bucket for bucket in (artifact_bucket, *allowlist) if bucket)
