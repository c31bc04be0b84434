"""`cirrus local` options checked before anything starts."""

from __future__ import annotations

import os
import signal
import time

import pytest
from click.testing import CliRunner

from cirrus.cli import cli, sigterm_as_interrupt


@pytest.mark.parametrize(
    "origin",
    ["http://10.0.0.1:80", "http://169.254.169.254:80", "https://127.0.0.1:9000", "http://127.0.0.1"],
)
def test_only_loopback_http_origins_may_be_allowed_as_receivers(origin: str) -> None:
    result = CliRunner().invoke(cli, ["local", "up", "--allow-receiver", origin])

    assert result.exit_code == 2
    assert "is not a loopback origin" in result.output


def test_sigterm_stops_a_running_local_command_like_ctrl_c() -> None:
    # GIVEN a command waiting inside sigterm_as_interrupt (as `local up` and `local receiver` do)
    before = signal.getsignal(signal.SIGTERM)
    # WHEN the process gets SIGTERM
    with pytest.raises(KeyboardInterrupt):
        _wait_in_a_local_command()
    # THEN it unwound like Ctrl-C (so `finally` stops the cloud), and the handler is restored
    assert signal.getsignal(signal.SIGTERM) is before


def _wait_in_a_local_command() -> None:
    with sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives before this ends
