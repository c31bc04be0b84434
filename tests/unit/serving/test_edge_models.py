"""Edge targets: each Neo target maps to the Greengrass platform its component runs on, and to the name
Neo gives its artifact; input shapes are Neo's DataInputConfig, checked before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cirrus_core.serving.edge_models import (
    DEVICE_PLATFORMS,
    CreateEdgePackageRequest,
    EdgeDevice,
    parse_data_input_config,
)


def request(**changes: Any) -> CreateEdgePackageRequest:
    body: dict[str, Any] = {
        "version": 1,
        "target_device": "rasp3b",
        "framework": "TFLITE",
        "data_input_config": '{"input": [1, 224, 224, 3]}',
        **changes,
    }
    return CreateEdgePackageRequest.model_validate(
        {key: value for key, value in body.items() if value is not None}
    )


def test_every_edge_device_has_a_greengrass_platform() -> None:
    assert set(DEVICE_PLATFORMS) == set(EdgeDevice)


@pytest.mark.parametrize(
    ("changes", "name", "platform"),
    [
        ({"target_device": "jetson_nano"}, "jetson_nano", ("linux", "aarch64")),
        ({"target_device": "rasp3b"}, "rasp3b", ("linux", "arm")),
        ({"target_device": "x86_win64"}, "x86_win64", ("windows", "amd64")),
        (
            {
                "target_device": None,
                "target_platform": {"os": "LINUX", "arch": "ARM64", "accelerator": "NVIDIA"},
            },
            "LINUX_ARM64_NVIDIA",
            ("linux", "aarch64"),
        ),
        (
            {"target_device": None, "target_platform": {"os": "LINUX", "arch": "X86_64"}},
            "LINUX_X86_64",
            ("linux", "amd64"),
        ),
        (
            {"target_device": None, "target_platform": {"os": "LINUX", "arch": "ARM_EABIHF"}},
            "LINUX_ARM_EABIHF",
            ("linux", "arm"),
        ),
    ],
)
def test_targets_name_neos_artifact_and_select_a_greengrass_platform(
    changes: dict[str, Any], name: str, platform: tuple[str, str]
) -> None:
    target = request(**changes)

    assert target.target_name() == name
    chosen = target.greengrass_platform()
    assert (chosen.os, chosen.architecture) == platform


def test_framework_version_is_taken_for_frameworks_neo_versions() -> None:
    assert request(framework_version="2.11").framework_version == "2.11"


def test_framework_version_of_a_framework_neo_does_not_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="framework_version applies to"):
        request(framework="ONNX", framework_version="1.0")


def test_input_shapes_are_read_by_name() -> None:
    assert parse_data_input_config('{"a": [1, 3], "b": [2]}') == {"a": [1, 3], "b": [2]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{}", "JSON object"),
        ('{"a": []}', "positive integers"),
        ('{"a": [1, true]}', "positive integers"),
        ('{"a": [1.5]}', "positive integers"),
        ('{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}', "positive integers"),
        ('{" ": [1]}', "input names"),
        ("[[1, 3]]", "JSON object"),
    ],
)
def test_bad_input_shapes_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_data_input_config(text)
