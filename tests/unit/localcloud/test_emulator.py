"""The Emulator: moto's server on loopback, its configuration, and the hooks it installs and undoes."""

from __future__ import annotations

import logging
import os
import socket

import pytest
import requests
from moto.awslambda import models as lambda_models
from moto.core.config import default_user_config

from cirrus.localcloud.emulator import HOOK_MODULES, Emulator

LAMBDA_HOOK = "cirrus.localcloud.hooks.lambda_runtime"


def test_start_serves_on_loopback_and_stop_restores_the_process() -> None:
    original_invoke = lambda_models.LambdaFunction._invoke_lambda
    previous_port = os.environ.get("MOTO_PORT")
    previous_config = default_user_config.get("stepfunctions")
    emulator = Emulator(hooks=(LAMBDA_HOOK,))
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.endpoint_url

    with emulator:
        assert emulator.start() is emulator  # a second start is a no-op
        assert emulator.endpoint_url == f"http://127.0.0.1:{emulator.port}"
        assert os.environ["MOTO_PORT"] == str(emulator.port)
        assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
        assert logging.getLogger("moto.stepfunctions.parser").level == logging.CRITICAL
        assert emulator.installed_hooks == (LAMBDA_HOOK,)
        assert lambda_models.LambdaFunction._invoke_lambda is not original_invoke
        assert emulator.work_dir.is_dir()
        work_dir = emulator.work_dir
        assert emulator.client("sts").get_caller_identity()["Account"] == "123456789012"
        assert requests.get(f"{emulator.endpoint_url}/moto-api/", timeout=5).status_code == 200

    emulator.stop()  # a second stop is a no-op
    assert not emulator.running
    assert lambda_models.LambdaFunction._invoke_lambda is original_invoke
    assert os.environ.get("MOTO_PORT") == previous_port
    assert default_user_config.get("stepfunctions") == previous_config
    assert not work_dir.exists()


def test_every_available_hook_is_installed_by_default() -> None:
    with Emulator() as emulator:
        installed = emulator.installed_hooks
    assert installed[:3] == HOOK_MODULES[:3]  # ours; the others' are installed once they exist
    assert set(installed) <= set(HOOK_MODULES)


def test_a_missing_hook_module_is_skipped() -> None:
    with Emulator(hooks=("cirrus.localcloud.hooks.not_written_yet",)) as emulator:
        assert emulator.installed_hooks == ()


def test_one_emulator_per_process() -> None:
    with Emulator(hooks=()), pytest.raises(RuntimeError, match="another Emulator"):
        Emulator(hooks=()).start()


def test_a_port_in_use_is_refused_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emulator = Emulator(port, hooks=())
        with pytest.raises(OSError, match=f"port {port}"):
            emulator.start()
        assert not emulator.running
    with Emulator(hooks=()) as other:  # the failed start left nothing behind
        assert other.running


def test_each_start_begins_from_an_empty_cloud() -> None:
    with Emulator(hooks=()) as emulator:
        emulator.client("s3").create_bucket(Bucket="left-behind")
    with Emulator(hooks=()) as emulator:
        assert emulator.client("s3").list_buckets()["Buckets"] == []
