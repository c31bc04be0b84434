"""Fixtures of the local cloud's tests: one emulator per test module, and a way to deploy code.

`emulator` serves every test that needs a running local cloud (hooks, provisioner, gateway,
Cognito); `deploy` packages test code into functions and layers for the Lambda, EventBridge and
Step Functions hook tests; `sagemaker_world` serves the SageMaker hook tests (sagemaker_support.py).

A test module may set `EMULATOR_HOOKS` (a tuple of hook module names) to run against only those
hooks; by default every hook of `cirrus.localcloud.emulator.HOOK_MODULES` is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cirrus.localcloud.emulator import HOOK_MODULES, Emulator
from tests.unit.localcloud.helpers import unique, write_tree, zip_tree
from tests.unit.localcloud.sagemaker_support import SAGEMAKER_HOOKS, SageMakerWorld

ROLE_NAME = "cirrus-localcloud-tests"
TRUST_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running emulator shared by the tests of one module (moto's state is process-wide)."""
    hooks = getattr(request.module, "EMULATOR_HOOKS", HOOK_MODULES)
    with Emulator(hooks=hooks) as running:
        yield running


@dataclass
class Deployer:
    """Packages code written under a temporary folder and creates functions and layers from it."""

    emulator: Emulator
    root: Path
    role_arn: str

    def zip(self, files: dict[str, str]) -> bytes:
        """Write `files` into a fresh folder and zip it."""
        return zip_tree(write_tree(self.root / unique("src"), files))

    def function(self, files: dict[str, str], *, handler: str = "app.handler", **config: Any) -> str:
        """Create a Python function from `files`; returns its name. `config` is CreateFunction's."""
        name = str(config.pop("FunctionName", unique("fn")))
        self.emulator.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self.role_arn,
            Handler=handler,
            Code={"ZipFile": self.zip(files)},
            **config,
        )
        return name

    def layer(self, files: dict[str, str]) -> str:
        """Publish a layer version from `files`; returns its ARN."""
        response = self.emulator.client("lambda").publish_layer_version(
            LayerName=unique("layer"), Content={"ZipFile": self.zip(files)}, CompatibleRuntimes=["python3.13"]
        )
        return str(response["LayerVersionArn"])


@pytest.fixture(scope="module")
def deploy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployer:
    """Deploys test code to the module's emulator (the role moto requires is created once)."""
    role = emulator.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=TRUST_POLICY)
    return Deployer(emulator, tmp_path_factory.mktemp("lambda-src"), str(role["Role"]["Arn"]))


@pytest.fixture(scope="module")
def sagemaker_world() -> Iterator[SageMakerWorld]:
    """An emulator with the SageMaker hooks only, and the bucket of test code the SageMaker tests use."""
    with Emulator(hooks=SAGEMAKER_HOOKS) as running:
        yield SageMakerWorld(running)
