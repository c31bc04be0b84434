"""Small helpers of the local cloud's tests: packaging code as Lambda does, bounded waiting."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

WAIT_SECONDS = 20.0  # generous for a loaded 2-core CI runner; a passing test waits far less


def unique(prefix: str) -> str:
    """A resource name no other test in the module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> source, dedented) under `root`."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def zip_tree(root: Path) -> bytes:
    """Zip a folder's contents the way `sam package` does (paths relative to the folder)."""
    archive_path = root.with_suffix(".zip")
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return archive_path.read_bytes()


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Poll `probe` until it returns something other than None; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def payload(response: dict[str, Any]) -> Any:
    """The JSON payload of a Lambda Invoke response."""
    return json.loads(response["Payload"].read())
