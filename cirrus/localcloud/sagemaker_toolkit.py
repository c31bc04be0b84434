"""The SageMaker training toolkit's contract with a script-mode entry point, on the host.

The framework images (scikit-learn, XGBoost, PyTorch) run a training script through the SageMaker
training toolkit: it reads the hyperparameters (JSON-decoding each value, as the SageMaker Python SDK
JSON-encodes them), takes `sagemaker_program` and `sagemaker_submit_directory` out as the entry point
and its code, passes the rest as `--name value` arguments, and describes the job to the script in
`SM_*` environment variables and `input/config/*.json`. This module does the same with every
`/opt/ml` path pointing into a job directory on the host.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

CURRENT_HOST = "algo-1"
# Hyperparameters with this prefix are the toolkit's, not the script's.
FRAMEWORK_PREFIX = "sagemaker_"


@dataclass(frozen=True)
class ScriptMode:
    """What a script-mode job's hyperparameters say: the entry point, its code, and the rest."""

    program: str
    submit_directory: str
    hyperparameters: dict[str, Any]  # the script's own, decoded
    framework_parameters: dict[str, Any]  # the sagemaker_* ones, decoded

    @classmethod
    def of(cls, hyperparameters: Mapping[str, str]) -> ScriptMode | None:
        """Read the job's HyperParameters; None when they do not name an entry point and its code."""
        decoded = {name: decode_hyperparameter(value) for name, value in hyperparameters.items()}
        program = decoded.get("sagemaker_program")
        submit_directory = decoded.get("sagemaker_submit_directory")
        if not isinstance(program, str) or not isinstance(submit_directory, str):
            return None
        return cls(
            program=program,
            submit_directory=submit_directory,
            hyperparameters={k: v for k, v in decoded.items() if not k.startswith(FRAMEWORK_PREFIX)},
            framework_parameters={k: v for k, v in decoded.items() if k.startswith(FRAMEWORK_PREFIX)},
        )


@dataclass(frozen=True)
class TrainingPaths:
    """A training job's /opt/ml tree, rooted in the job directory."""

    root: Path

    @property
    def code(self) -> Path:
        """Where the sourcedir is extracted (the script's cwd)."""
        return self.root / "code"

    @property
    def input(self) -> Path:
        """SM_INPUT_DIR."""
        return self.root / "input"

    @property
    def config(self) -> Path:
        """SM_INPUT_CONFIG_DIR."""
        return self.input / "config"

    @property
    def data(self) -> Path:
        """The parent of every channel's directory."""
        return self.input / "data"

    @property
    def model(self) -> Path:
        """SM_MODEL_DIR."""
        return self.root / "model"

    @property
    def output(self) -> Path:
        """SM_OUTPUT_DIR (where `failure` goes)."""
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        """SM_OUTPUT_DATA_DIR."""
        return self.output / "data"

    def create(self) -> None:
        """Make the directories a container finds in place."""
        for path in (
            self.code,
            self.config,
            self.data,
            self.model,
            self.output_data,
            self.output / "intermediate",
        ):
            path.mkdir(parents=True, exist_ok=True)


def decode_hyperparameter(value: str) -> Any:
    """A hyperparameter as the framework toolkits read it: JSON if it parses (the SageMaker Python
    SDK JSON-encodes every value, so `"train.py"` arrives quoted), else the string itself."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def to_cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """Hyperparameters as the framework containers pass them: sorted, `--name value` (`-n` for a
    one-letter name), dictionaries as `k=v,k=v`, everything else as `str()`."""
    argv: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        argv.append(f"--{name}" if len(name) > 1 else f"-{name}")
        if isinstance(value, dict):
            argv.append(",".join(f"{key}={item}" for key, item in sorted(value.items())))
        else:
            argv.append(str(value))
    return argv


def _env_value(value: Any) -> str:
    """An SM_* value as the toolkits write it: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _env_name(name: str) -> str:
    """A name as an environment variable suffix: upper case, anything but [A-Z0-9_] as `_`."""
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def interpreter_for(program: str, entry_point: Path) -> list[str]:
    """How the toolkits start an entry point: Python scripts with Python, shell scripts with sh."""
    if program.endswith(".py"):
        return [sys.executable, str(entry_point)]
    if program.endswith(".sh"):
        return ["/bin/sh", str(entry_point)]
    return [str(entry_point)]


def training_environment(
    *, job_name: str, job_arn: str, request: Mapping[str, Any], paths: TrainingPaths, script: ScriptMode
) -> dict[str, str]:
    """The SM_* variables the SageMaker training toolkit sets, pointing into the job directory."""
    program, user_hyperparameters = script.program, script.hyperparameters
    channels = sorted(channel["ChannelName"] for channel in request.get("InputDataConfig") or [])
    channel_dirs = {name: str(paths.data / name) for name in channels}
    training_env = {
        "additional_framework_parameters": dict(script.framework_parameters),
        "channel_input_dirs": channel_dirs,
        "current_host": CURRENT_HOST,
        "framework_module": None,
        "hosts": [CURRENT_HOST],
        "hyperparameters": dict(user_hyperparameters),
        "input_config_dir": str(paths.config),
        "input_data_config": input_data_config(request),
        "input_dir": str(paths.input),
        "is_master": True,
        "job_name": job_name,
        "log_level": 20,
        "master_hostname": CURRENT_HOST,
        "model_dir": str(paths.model),
        "module_dir": script.submit_directory,
        "module_name": PurePosixPath(program).stem,
        "network_interface_name": "eth0",
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": 0,
        "output_data_dir": str(paths.output_data),
        "output_dir": str(paths.output),
        "output_intermediate_dir": str(paths.output / "intermediate"),
        "resource_config": resource_config(),
        "user_entry_point": program,
    }
    env = {
        "SM_" + _env_name(name): _env_value(value)
        for name, value in training_env.items()
        if name
        not in {"channel_input_dirs", "hyperparameters", "additional_framework_parameters", "job_name"}
    }
    env.update(
        {
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(dict(user_hyperparameters), sort_keys=True),
            "SM_USER_ARGS": json.dumps(to_cmd_args(user_hyperparameters)),
            "SM_FRAMEWORK_PARAMS": _env_value(training_env["additional_framework_parameters"]),
            "SM_TRAINING_ENV": json.dumps(training_env, sort_keys=True),
            "SM_INPUT_CONFIG_DIR": str(paths.config),
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": job_arn,
        }
    )
    env.update({f"SM_CHANNEL_{_env_name(name)}": path for name, path in channel_dirs.items()})
    env.update(
        {f"SM_HP_{_env_name(name)}": _env_value(value) for name, value in user_hyperparameters.items()}
    )
    return env


def resource_config() -> dict[str, Any]:
    """resourceconfig.json: one host, as a single-instance job has."""
    return {"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST], "network_interface_name": "eth0"}


def input_data_config(request: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """inputdataconfig.json: each channel's settings, as SageMaker writes them."""
    mode = (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File")
    config = {}
    for channel in request.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        entry = {
            "TrainingInputMode": channel.get("InputMode", mode),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
        if "ContentType" in channel:
            entry["ContentType"] = channel["ContentType"]
        if "CompressionType" in channel:
            entry["CompressionType"] = channel["CompressionType"]
        config[channel["ChannelName"]] = entry
    return config


def write_input_config(
    paths: TrainingPaths, hyperparameters: Mapping[str, str], request: Mapping[str, Any]
) -> None:
    """input/config/*.json: the hyperparameters exactly as sent (strings), channels, resources."""
    files = {
        "hyperparameters.json": dict(hyperparameters),
        "inputdataconfig.json": input_data_config(request),
        "resourceconfig.json": resource_config(),
    }
    for name, content in files.items():
        (paths.config / name).write_text(json.dumps(content, indent=2))
