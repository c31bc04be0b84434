"""The `cirrus` command against the running local cloud, as a user types it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cirrus.cli import cli
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from tests.support.tokens import claims_of


@pytest.fixture(scope="module")
def state_dir(local_cloud: LocalCloud) -> Path:
    """The folder holding the running local cloud's `.cirrus/local.json`."""
    return local_cloud.state_dir


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def as_user(state: LocalCloudState, role: str, *args: str) -> Result:
    return run("models", "--endpoint-url", state.api_url, "--token", state.token(role), *args)


def test_local_status_prints_where_the_cloud_listens(state_dir: Path, state: LocalCloudState) -> None:
    result = run("local", "status", "--project-dir", str(state_dir))

    assert result.exit_code == 0
    assert state.api_url in result.output


def test_local_status_field_prints_one_value_for_scripts(state_dir: Path, state: LocalCloudState) -> None:
    result = run("local", "status", "--project-dir", str(state_dir), "--field", "artifact_bucket")

    assert result.output.strip() == state.artifact_bucket


def test_local_status_without_a_running_cloud_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["local", "status", "--project-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "cirrus local up" in result.output


def test_local_token_prints_an_id_token_of_the_role_user(state_dir: Path) -> None:
    result = run("local", "token", "--role", "model_reviewer", "--project-dir", str(state_dir))

    claims = claims_of(result.output.strip())
    assert claims["cognito:username"] == "rui"
    assert claims["token_use"] == "id"


def test_register_from_options_then_list_shows_the_model(state: LocalCloudState, model_id: str) -> None:
    registered = as_user(
        state,
        "ml_engineer",
        "register",
        model_id,
        "--type",
        "sklearn",
        "--framework-version",
        "1.5.2",
        "--dataset-version",
        "ds-7",
        "--artifact",
        f"s3://{state.artifact_bucket}/m/{model_id}/model.tar.gz",
        "--metric",
        "f1=0.81",
        "--param",
        "C=0.5",
    )
    listed = as_user(state, "data_scientist", "list", "--prefix", model_id)

    assert registered.exit_code == 0, registered.output
    version: dict[str, Any] = json.loads(registered.output)
    assert version["training_metadata"]["metrics"] == {"f1": 0.81}
    assert [item["model_id"] for item in json.loads(listed.output)["items"]] == [model_id]


def test_refusal_prints_the_error_body_and_exits_1(state: LocalCloudState) -> None:
    result = CliRunner().invoke(
        cli,
        ["models", "--endpoint-url", state.api_url, "--token", state.token("admin"), "get", "no_such_model"],
    )

    assert result.exit_code == 1
    assert '"code": "model_not_found"' in result.output


def test_register_without_file_or_required_options_is_a_usage_error(state: LocalCloudState) -> None:
    result = CliRunner().invoke(cli, ["models", "--endpoint-url", state.api_url, "register", "only_a_name"])

    assert result.exit_code == 2
    assert "--type" in result.output
