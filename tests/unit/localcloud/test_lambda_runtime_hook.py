"""The lambda_runtime hook: moto's Lambda runs each function's real handler in its own worker."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda import models as lambda_models

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import lambda_runtime
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.helpers import payload, unique, wait_for

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)

ENV_HANDLER = """
    import os
    import sys

    def handler(event, context):
        return {
            "who": "%s",
            "env": dict(os.environ),
            "module_file": __file__,
            "sys_path": sys.path,
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
            "event": event,
        }
"""

COUNTER_HANDLER = """
    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        return {"release": "%s", "calls": CALLS}
"""


def function_arn(emulator: Emulator, name: str) -> str:
    return str(emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def invoke(emulator: Emulator, name: str, event: Any = None, **kwargs: Any) -> dict[str, Any]:
    body = b"" if event is None else json.dumps(event).encode()
    return dict(emulator.client("lambda").invoke(FunctionName=name, Payload=body, **kwargs))


def test_each_function_has_its_own_environment_and_modules(emulator: Emulator, deploy: Deployer) -> None:
    first = deploy.function(
        {"app.py": ENV_HANDLER % "first"}, Environment={"Variables": {"STAGE": "one"}}, MemorySize=256
    )
    second = deploy.function({"app.py": ENV_HANDLER % "second"}, Environment={"Variables": {"STAGE": "two"}})

    one = payload(invoke(emulator, first, {"n": 1}))
    two = payload(invoke(emulator, second))

    # Both ship app.py; each imported its own.
    assert (one["who"], two["who"]) == ("first", "second")
    assert one["module_file"] != two["module_file"]
    assert one["sys_path"][0] == one["env"]["LAMBDA_TASK_ROOT"]
    assert one["env"]["STAGE"] == "one"
    assert two["env"]["STAGE"] == "two"
    assert one["env"]["AWS_LAMBDA_FUNCTION_NAME"] == first
    assert one["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert one["env"]["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{first}"
    assert one["env"]["AWS_ENDPOINT_URL"] == emulator.endpoint_url
    assert one["env"]["AWS_REGION"] == one["env"]["AWS_DEFAULT_REGION"] == "us-east-1"
    assert one["env"]["_HANDLER"] == "app.handler"
    # The test process's own environment (set by the suite's autouse fixture) does not leak in.
    assert "CIRRUS_STAGE" not in one["env"]
    assert one["event"] == {"n": 1}
    assert two["event"] == {}  # an empty payload reaches the handler as {}, as in Lambda
    context = one["context"]
    assert context["function_name"] == first
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(f":function:{first}")
    assert context["log_group_name"] == f"/aws/lambda/{first}"
    assert context["log_stream_name"] == one["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining_ms"] <= 3000


def test_a_warm_worker_keeps_module_state_and_new_code_gets_a_new_one(
    emulator: Emulator, deploy: Deployer
) -> None:
    name = deploy.function({"app.py": COUNTER_HANDLER % "v1"})

    calls = [payload(invoke(emulator, name)) for _ in range(3)]
    assert calls == [{"release": "v1", "calls": n} for n in (1, 2, 3)]

    emulator.client("lambda").update_function_code(
        FunctionName=name, ZipFile=deploy.zip({"app.py": COUNTER_HANDLER % "v2"})
    )
    assert payload(invoke(emulator, name)) == {"release": "v2", "calls": 1}

    emulator.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"CHANGED": "yes"}}
    )
    assert payload(invoke(emulator, name)) == {"release": "v2", "calls": 1}
    runtime = lambda_runtime.active_runtime()
    assert runtime is not None
    assert runtime.warm_workers[function_arn(emulator, name)] == 1  # the old configuration's was stopped


def test_concurrent_invocations_get_one_worker_each_and_reuse_them(
    emulator: Emulator, deploy: Deployer, tmp_path: Path
) -> None:
    # Each invocation waits until both are running: one worker could not serve both, so this
    # passes only if the second invocation got a worker of its own.
    rendezvous = tmp_path / "running"
    rendezvous.mkdir()
    name = deploy.function(
        {
            "app.py": f"""
            import os
            import time
            from pathlib import Path

            def handler(event, context):
                here = Path({str(rendezvous)!r})
                (here / str(os.getpid())).touch()
                if event.get("meet"):
                    deadline = time.monotonic() + 20
                    while len(list(here.iterdir())) < 2 and time.monotonic() < deadline:
                        time.sleep(0.01)
                return os.getpid()
            """
        },
        Timeout=30,
    )

    with ThreadPoolExecutor(2) as pool:
        pids = list(pool.map(lambda _: payload(invoke(emulator, name, {"meet": True})), range(2)))

    assert len(set(pids)) == 2
    assert payload(invoke(emulator, name, {})) in pids  # a warm worker serves the next one
    runtime = lambda_runtime.active_runtime()
    assert runtime is not None
    assert runtime.warm_workers[function_arn(emulator, name)] == 2


def test_an_exception_is_a_function_error_named_after_its_class(emulator: Emulator, deploy: Deployer) -> None:
    name = deploy.function(
        {
            "app.py": """
            class ModelNotReady(Exception):
                pass

            def handler(event, context):
                raise ModelNotReady(f"model {event['model']} is still training")
            """
        }
    )

    response = invoke(emulator, name, {"model": "churn"})

    assert response["FunctionError"] == "Unhandled"
    error = payload(response)
    assert error["errorType"] == "ModelNotReady"
    assert error["errorMessage"] == "model churn is still training"
    assert any("app.py" in frame and "in handler" in frame for frame in error["stackTrace"])
    # The worker survives a handled exception and serves the next invocation.
    assert (
        payload(invoke(emulator, name, {"model": "fraud"}))["errorMessage"] == "model fraud is still training"
    )


def test_the_timeout_is_enforced_and_the_next_invocation_gets_a_fresh_worker(
    emulator: Emulator, deploy: Deployer
) -> None:
    name = deploy.function(
        {
            "app.py": """
            import time

            def handler(event, context):
                if event.get("sleep"):
                    time.sleep(60)
                return "awake"
            """
        },
        Timeout=1,
    )

    response = invoke(emulator, name, {"sleep": True}, LogType="Tail")

    assert response["FunctionError"] == "Unhandled"
    error = payload(response)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(response["LogResult"]).decode()
    assert payload(invoke(emulator, name, {"sleep": False})) == "awake"


def test_output_goes_to_cloudwatch_logs_and_to_the_log_tail(emulator: Emulator, deploy: Deployer) -> None:
    marker = unique("marker")
    name = deploy.function(
        {
            "app.py": f"""
            import logging
            import sys

            def handler(event, context):
                print("printed {marker}")
                print("to stderr {marker}", file=sys.stderr)
                logging.getLogger().warning("logged {marker}")
                return "ok"
            """
        }
    )

    response = invoke(emulator, name, LogType="Tail")

    tail = base64.b64decode(response["LogResult"]).decode()
    assert tail.startswith("START RequestId:")
    assert f"printed {marker}" in tail
    assert f"to stderr {marker}" in tail
    assert "REPORT RequestId:" in tail
    events = emulator.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    messages = [event["message"] for event in events]
    assert f"printed {marker}" in messages
    assert any(message.startswith("[WARNING]") and f"logged {marker}" in message for message in messages)
    streams = emulator.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1  # one stream per worker, as Lambda has one per execution environment
    assert "]" in streams[0]["logStreamName"]


def test_layers_are_importable_after_the_function_code(emulator: Emulator, deploy: Deployer) -> None:
    packaged = deploy.layer(
        {
            "python/scoring.py": "def score(x):\n    return 2 * x\n",
            "python/shadowed.py": "WHERE = 'layer'\n",
        }
    )
    plain = deploy.layer({"plain_helpers.py": "GREETING = 'from a plain layer'\n"})
    name = deploy.function(
        {
            "app.py": """
            import plain_helpers
            import scoring
            import shadowed

            def handler(event, context):
                return [scoring.score(event["x"]), plain_helpers.GREETING, shadowed.WHERE]
            """,
            "shadowed.py": "WHERE = 'function code'\n",
        },
        Layers=[packaged, plain],
    )

    assert payload(invoke(emulator, name, {"x": 21})) == [42, "from a plain layer", "function code"]


def test_an_import_error_is_reported_as_lambda_does(emulator: Emulator, deploy: Deployer) -> None:
    name = deploy.function(
        {"app.py": "import not_installed_anywhere\n\ndef handler(event, context):\n    pass\n"}
    )

    response = invoke(emulator, name)

    assert response["FunctionError"] == "Unhandled"
    error = payload(response)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in error["errorMessage"]


def test_an_asynchronous_invocation_runs_the_handler(emulator: Emulator, deploy: Deployer) -> None:
    bucket = unique("async-results")
    emulator.client("s3").create_bucket(Bucket=bucket)
    name = deploy.function(
        {
            "app.py": """
            import json
            import boto3

            def handler(event, context):
                boto3.client("s3").put_object(
                    Bucket=event["bucket"], Key="result.json", Body=json.dumps(event).encode()
                )
            """
        },
        Timeout=30,
    )

    response = invoke(emulator, name, {"bucket": bucket, "job": 7}, InvocationType="Event")

    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    s3 = emulator.client("s3")

    def stored() -> Any:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return json.loads(s3.get_object(Bucket=bucket, Key="result.json")["Body"].read()) if listed else None

    assert wait_for(stored, "the asynchronous invocation's object") == {"bucket": bucket, "job": 7}


def test_a_failing_asynchronous_invocation_is_retried_then_sent_to_its_on_failure_destination(
    emulator: Emulator, deploy: Deployer
) -> None:
    sqs = emulator.client("sqs")
    queue = sqs.create_queue(QueueName=unique("on-failure"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    name = deploy.function(
        {
            "app.py": """
            class ScoringFailed(Exception):
                pass

            def handler(event, context):
                raise ScoringFailed("no features")
            """
        }
    )
    emulator.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    invoke(emulator, name, {"row": 3}, InvocationType="Event")

    def record() -> Any:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        return json.loads(messages[0]["Body"]) if messages else None

    failure = wait_for(record, "the OnFailure record")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert failure["requestPayload"] == {"row": 3}
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorType"] == "ScoringFailed"


def test_an_sns_subscription_invokes_the_function(
    emulator: Emulator, deploy: Deployer, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.json"
    name = deploy.function(
        {
            "app.py": f"""
            import json
            import os

            def handler(event, context):
                partial = {str(seen)!r} + ".partial"
                with open(partial, "w") as out:
                    json.dump(event["Records"][0]["Sns"]["Message"], out)
                os.replace(partial, {str(seen)!r})  # the test never reads a half-written file
            """
        }
    )
    sns = emulator.client("sns")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn(emulator, name))

    sns.publish(TopicArn=topic, Message="drift detected")

    def delivered() -> Any:
        return json.loads(seen.read_text()) if seen.exists() else None

    assert wait_for(delivered, "the SNS delivery") == "drift detected"


def test_an_s3_notification_invokes_the_function(
    emulator: Emulator, deploy: Deployer, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.json"
    name = deploy.function(
        {
            "app.py": f"""
            import json
            import os

            def handler(event, context):
                partial = {str(seen)!r} + ".partial"
                with open(partial, "w") as out:
                    json.dump(event["Records"][0]["s3"]["object"]["key"], out)
                os.replace(partial, {str(seen)!r})
            """
        }
    )
    s3 = emulator.client("s3")
    bucket = unique("uploads")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn(emulator, name), "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )

    s3.put_object(Bucket=bucket, Key="train.csv", Body=b"x,y\n1,2\n")

    def delivered() -> Any:
        return json.loads(seen.read_text()) if seen.exists() else None

    assert wait_for(delivered, "the S3 notification") == "train.csv"


def test_undo_restores_moto_and_stops_the_workers(emulator: Emulator, deploy: Deployer) -> None:
    # Install a second copy on top of the running one and undo it: moto's methods come back to
    # what they were (here, the first copy's), and that copy's workers are gone.
    name = deploy.function({"app.py": COUNTER_HANDLER % "undo"})
    before = {
        "invoke": lambda_models.LambdaFunction.invoke,
        "_invoke_lambda": lambda_models.LambdaFunction._invoke_lambda,
    }
    undo = lambda_runtime.install(emulator.hook_context())
    second = lambda_runtime.active_runtime()
    assert second is not None
    assert payload(invoke(emulator, name)) == {"release": "undo", "calls": 1}
    assert sum(second.warm_workers.values()) == 1

    undo()

    assert second.warm_workers == {}
    assert lambda_models.LambdaFunction.invoke is before["invoke"]
    assert lambda_models.LambdaFunction._invoke_lambda is before["_invoke_lambda"]


@pytest.mark.parametrize("runtime", ["nodejs20.x"])
def test_a_runtime_other_than_python_is_refused_clearly(
    emulator: Emulator, deploy: Deployer, runtime: str
) -> None:
    name = unique("node")
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=deploy.role_arn,
        Handler="index.handler",
        Code={"ZipFile": deploy.zip({"index.js": "exports.handler = async () => 1;\n"})},
    )

    error = payload(invoke(emulator, name))

    assert error["errorType"] == "Cirrus.UnsupportedFunction"
    assert runtime in error["errorMessage"]
