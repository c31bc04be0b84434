"""Reserve workers: processes that preloaded the common packages take on a function's cold start.

A function served by a reserve worker must see exactly what a fresh process would have shown it:
its own environment, its own sys.path, its own copy of a package it ships, its Timeout enforced.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cirrus.localcloud import runtime_bootstrap
from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import lambda_runtime
from cirrus.localcloud.lambda_workers import (
    ReservePlan,
    Worker,
    WorkerReserve,
    WorkerSpec,
    function_environment,
    spare_refusal,
    stop_all,
)
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.helpers import payload, wait_for, write_tree

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)
RESERVE_WAIT_SECONDS = 120.0
# The template's Globals set it, and so does the reserve: the preloaded packages read it.
GLOBALS = {"PYDANTIC_DISABLE_PLUGINS": "1"}

PROBE_HANDLER = """
    import os
    import sys

    import boto3

    def handler(event, context):
        dynamodb = boto3.client("dynamodb")
        return {
            "pid": os.getpid(),
            "env": dict(os.environ),
            "sys_path": sys.path,
            "cwd": os.getcwd(),
            "boto3_file": boto3.__file__,
            "dynamodb_endpoint": dynamodb.meta.endpoint_url,
            "dynamodb_region": dynamodb.meta.region_name,
            "access_key": dynamodb._request_signer._credentials.access_key,
        }
"""


def runtime() -> lambda_runtime.LambdaRuntime:
    active = lambda_runtime.active_runtime()
    assert active is not None
    return active


def full_reserve() -> WorkerReserve:
    reserve = runtime().reserve
    assert reserve.size > 0, "these tests need a reserve (CIRRUS_LOCAL_RESERVE_WORKERS is 0?)"
    assert reserve.wait_full(RESERVE_WAIT_SECONDS), "the reserve did not fill"
    return reserve


def invoke(emulator: Emulator, name: str, event: Any = None) -> dict[str, Any]:
    body = b"" if event is None else json.dumps(event).encode()
    return dict(emulator.client("lambda").invoke(FunctionName=name, Payload=body))


def test_reserve_workers_get_each_function_its_own_environment_and_path(
    emulator: Emulator, deploy: Deployer
) -> None:
    layer = deploy.layer({"python/shared_helper.py": "VALUE = 1\n"})
    first = deploy.function(
        {"app.py": PROBE_HANDLER},
        Environment={"Variables": {**GLOBALS, "ONLY_FIRST": "yes", "STAGE": "one"}},
        Layers=[layer],
    )
    second = deploy.function(
        {"app.py": PROBE_HANDLER + "    # the second function's own code\n"},
        # Read when the handler creates its client, not when the reserve preloaded botocore.
        Environment={
            "Variables": {**GLOBALS, "STAGE": "two", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}
        },
    )
    reserve = full_reserve()
    taken = reserve.taken
    one = payload(invoke(emulator, first))
    full_reserve()
    two = payload(invoke(emulator, second))
    assert reserve.taken == taken + 2, reserve.refused

    assert one["env"]["ONLY_FIRST"] == "yes"
    assert "ONLY_FIRST" not in two["env"]
    assert (one["env"]["STAGE"], two["env"]["STAGE"]) == ("one", "two")
    assert one["env"]["AWS_LAMBDA_FUNCTION_NAME"] == first
    assert two["env"]["AWS_LAMBDA_FUNCTION_NAME"] == second
    assert runtime_bootstrap.RESERVE_ENV not in one["env"]
    # sys.path: the code directory, then the layer, then the interpreter's own entries.
    assert one["sys_path"][0] == one["env"]["LAMBDA_TASK_ROOT"] == one["cwd"]
    assert one["sys_path"][1].endswith("/python")
    assert two["sys_path"][0] == two["env"]["LAMBDA_TASK_ROOT"] == two["cwd"]
    assert one["sys_path"][0] not in two["sys_path"]
    assert not any(entry.endswith("/python") and "layers" in entry for entry in two["sys_path"])
    # The clients the handlers create read the function's own environment.
    assert one["dynamodb_endpoint"] == emulator.endpoint_url
    assert two["dynamodb_endpoint"] == "http://127.0.0.1:9"
    assert one["dynamodb_region"] == "us-east-1"
    assert one["access_key"] == one["env"]["AWS_ACCESS_KEY_ID"]


def test_a_function_that_ships_its_own_copy_of_a_preloaded_package_gets_a_plain_worker(
    emulator: Emulator, deploy: Deployer
) -> None:
    name = deploy.function(
        {
            "boto3/__init__.py": "SHIPPED = True\n\ndef client(name):\n    raise RuntimeError('mine')\n",
            "app.py": """
                import boto3

                def handler(event, context):
                    return {"shipped": getattr(boto3, "SHIPPED", False), "file": boto3.__file__}
            """,
        },
        Environment={"Variables": GLOBALS},
    )
    reserve = full_reserve()
    taken = reserve.taken
    result = payload(invoke(emulator, name))
    assert result["shipped"] is True
    assert reserve.taken == taken
    assert "boto3" in reserve.refused[name]


def test_a_function_whose_environment_changes_what_the_imports_read_gets_a_plain_worker(
    emulator: Emulator, deploy: Deployer
) -> None:
    # wrapt reads WRAPT_DISABLE_EXTENSIONS when it is imported: a preloaded wrapt would ignore it.
    name = deploy.function(
        {"app.py": "def handler(event, context):\n    return 1\n"},
        Environment={"Variables": {**GLOBALS, "WRAPT_DISABLE_EXTENSIONS": "1"}},
    )
    reserve = full_reserve()
    taken = reserve.taken
    assert payload(invoke(emulator, name)) == 1
    assert reserve.taken == taken
    assert reserve.refused[name] == "WRAPT_DISABLE_EXTENSIONS differs from the reserve's"
    # So does one that changes how the interpreter starts.
    other = deploy.function(
        {"app.py": "def handler(event, context):\n    return 2\n"},
        Environment={"Variables": {**GLOBALS, "PYTHONDONTWRITEBYTECODE": "1"}},
    )
    assert payload(invoke(emulator, other)) == 2
    assert reserve.taken == taken
    assert reserve.refused[other] == "PYTHONDONTWRITEBYTECODE differs from the reserve's"


def test_the_timeout_kills_a_reserve_worker(emulator: Emulator, deploy: Deployer) -> None:
    name = deploy.function(
        {
            "app.py": """
                import os
                import time

                def handler(event, context):
                    if event.get("sleep"):
                        time.sleep(30)
                    return os.getpid()
            """
        },
        Timeout=1,
        Environment={"Variables": GLOBALS},
    )
    reserve = full_reserve()
    taken = reserve.taken
    pid = payload(invoke(emulator, name))
    assert reserve.taken == taken + 1
    started = time.monotonic()
    response = invoke(emulator, name, {"sleep": True})
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert payload(response)["errorType"] == "Sandbox.Timedout"
    wait_for(lambda: not _running(pid) or None, "the timed-out worker to be gone")
    assert payload(invoke(emulator, name)) != pid  # a new environment


def test_the_reserve_refills_after_a_function_takes_a_worker(emulator: Emulator, deploy: Deployer) -> None:
    name = deploy.function(
        {"app.py": "def handler(event, context):\n    return 'ok'\n"}, Environment={"Variables": GLOBALS}
    )
    reserve = full_reserve()
    taken = reserve.taken
    assert payload(invoke(emulator, name)) == "ok"
    assert reserve.taken == taken + 1
    assert reserve.wait_full(RESERVE_WAIT_SECONDS)
    assert reserve.ready == reserve.size


# -- the reserve on its own, without moto -----------------------------------------------------------


def _spec(code_dir: Path, name: str = "fn", **variables: str) -> WorkerSpec:
    return WorkerSpec(
        function_name=name,
        version="$LATEST",
        runtime="python3.13",
        handler="app.handler",
        memory_mb=128,
        timeout_seconds=5.0,
        code_dir=code_dir,
        layer_dirs=(),
        variables=variables,
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        log_group=f"/aws/lambda/{name}",
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes, but only its parent can reap it: look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@pytest.fixture
def small_reserve(tmp_path: Path) -> Any:
    # A reserve that preloads little, so these tests stay quick.
    plan = ReservePlan(modules=("json",), clients=())
    reserve = WorkerReserve(2, plan, "http://127.0.0.1:9", "us-east-1", tmp_path / "reserve")
    try:
        yield reserve
    finally:
        reserve.close()


def test_a_reserve_worker_runs_the_function_and_stopping_leaves_no_process(
    small_reserve: WorkerReserve, tmp_path: Path
) -> None:
    code = write_tree(
        tmp_path / "code",
        {"app.py": "import os\n\ndef handler(event, context):\n    return [os.getpid(), os.getenv('X')]\n"},
    )
    assert small_reserve.wait_full(RESERVE_WAIT_SECONDS)
    spares = list(small_reserve._ready)
    spare_pids = [spare.process.process.pid for spare in spares]
    spec = _spec(code, X="1")
    lines: list[str] = []
    spare = small_reserve.take(spec, function_environment(spec, "stream"))
    assert spare is not None
    worker = Worker(spec, "stream", lines.append)
    worker.start(spare)
    assert worker.from_reserve
    outcome = worker.invoke("req-1", {}, "arn:aws:lambda:us-east-1:123456789012:function:fn")
    assert json.loads(outcome.payload) == [spare.process.process.pid, "1"]
    assert any(line.startswith("REPORT RequestId: req-1") and "Init Duration" in line for line in lines)
    assert small_reserve.wait_full(RESERVE_WAIT_SECONDS)  # refilled in the background
    pids = [*spare_pids, *(s.process.process.pid for s in small_reserve._ready)]

    started = time.monotonic()
    stop_all([worker])
    small_reserve.close()
    assert time.monotonic() - started < 2.0
    assert not [pid for pid in pids if _running(pid)]


def test_spare_refusal_names_what_differs(small_reserve: WorkerReserve, tmp_path: Path) -> None:
    code = write_tree(tmp_path / "code", {"app.py": "def handler(event, context):\n    return 1\n"})
    assert small_reserve.wait_full(RESERVE_WAIT_SECONDS)
    spare = small_reserve._ready[0]
    spec = _spec(code)
    assert spare_refusal(spec, function_environment(spec, "s"), spare) is None
    odd = _spec(code, PYTHONHASHSEED="0")
    refusal = spare_refusal(odd, function_environment(odd, "s"), spare)
    assert refusal == "PYTHONHASHSEED differs from the reserve's"
    shadow = write_tree(tmp_path / "shadow", {"app.py": "", "json/__init__.py": ""})
    shipped = _spec(shadow)
    assert spare_refusal(shipped, function_environment(shipped, "s"), spare) == "its code or layers ship json"
