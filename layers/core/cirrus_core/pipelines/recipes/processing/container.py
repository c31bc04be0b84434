"""What the processing recipes share: the container's paths, their parameters, the failure message.

It lies beside the scripts in the recipes' `processing/` prefix, which a processing job downloads
whole into `/opt/ml/processing/input/code/`; Python puts a script's own directory on the import
path, so `from container import ...` finds it there. Python 3.8 syntax (SageMaker's images).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


class RecipeError(Exception):
    """A refusal with a message for whoever started the job."""


def ml_root() -> Path:
    """The container's /opt/ml: $CIRRUS_ML_ROOT, else found from where this script was put
    (`<root>/processing/input/code/`), else /opt/ml."""
    if os.environ.get("CIRRUS_ML_ROOT"):
        return Path(os.environ["CIRRUS_ML_ROOT"])
    here = Path(os.path.abspath(__file__)).parent
    if here.parts[-3:] == ("processing", "input", "code"):
        return here.parents[2]
    return Path("/opt/ml")


def load_parameters(root: Path) -> dict[str, Any]:
    """The step's parameters over the run's (empty when the job was given none)."""
    path = root / "processing" / "input" / "config" / "parameters.json"
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise RecipeError("parameters.json must hold a JSON object")
    return loaded


def text_parameter(params: dict[str, Any], name: str, default: str) -> str:
    """A string parameter; an empty or missing one takes the default."""
    value = params.get(name)
    return default if value is None or str(value).strip() == "" else str(value).strip()


def choice_parameter(params: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    """A parameter that must be one of `choices`."""
    value = text_parameter(params, name, default).lower()
    if value not in choices:
        raise RecipeError(f"parameter {name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def run(step: str, main: Callable[[Path, dict[str, Any]], None]) -> int:
    """Run `main(root, parameters)`; a failure goes to <root>/output/message and exits 1."""
    root = ml_root()
    try:
        main(root, load_parameters(root))
    except Exception as error:
        if isinstance(error, RecipeError):
            message = str(error)
        else:
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            traceback.print_exc()
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output" / "message").write_text(message[:1024], encoding="utf-8")
        print(f"{step} failed: {message}", file=sys.stderr)
        return 1
    return 0
