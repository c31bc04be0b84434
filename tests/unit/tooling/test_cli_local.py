"""`cirrus local` options checked before anything starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cirrus.cli import cli


@pytest.mark.parametrize(
    "origin",
    ["http://10.0.0.1:80", "http://169.254.169.254:80", "https://127.0.0.1:9000", "http://127.0.0.1"],
)
def test_only_loopback_http_origins_may_be_allowed_as_receivers(origin: str) -> None:
    result = CliRunner().invoke(cli, ["local", "up", "--allow-receiver", origin])

    assert result.exit_code == 2
    assert "is not a loopback origin" in result.output
