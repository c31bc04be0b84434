"""The training recipes as modules: how they read hyperparameters, what they import, what they share."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cirrus_core.pipelines.recipes_upload import load_recipes
from tests.unit.recipes.support import RECIPES, load_script

TRAINING = [RECIPES / "sklearn" / "train.py", RECIPES / "xgboost" / "train.py"]
SCRIPTS = sorted(RECIPES.rglob("*.py"))
# Calls newer than Python 3.8 that its grammar still parses (SageMaker's images run 3.8).
NEWER_CALLS = {"removeprefix", "removesuffix", "is_relative_to"}


@pytest.fixture(scope="module")
def recipe() -> object:
    return load_script(RECIPES / "common" / "script_mode.py")


@pytest.mark.parametrize("model_type", ["sklearn", "xgboost"])
def test_each_training_sourcedir_carries_the_shared_modules_beside_its_entry_script(model_type: str) -> None:
    bundle = load_recipes()
    packed = dict(bundle.files)[f"{model_type}/sourcedir.tar.gz"]

    with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
        names = archive.getnames()

    assert names == ["feature_transforms.py", "script_mode.py", "train.py"]


@pytest.mark.parametrize("path", TRAINING, ids=["sklearn", "xgboost"])
def test_metric_definitions_load_without_the_science_stack(path: Path) -> None:
    # GIVEN an interpreter where numpy, pandas, scikit-learn and xgboost cannot be imported
    probe = (
        "import importlib.util, json, sys\n"
        "for name in ('numpy', 'pandas', 'sklearn', 'xgboost', 'joblib'):\n"
        "    sys.modules[name] = None\n"
        # the sourcedir's layout: the shared module beside the entry script
        f"sys.path.insert(0, {str(RECIPES / 'common')!r})\n"
        f"spec = importlib.util.spec_from_file_location('recipe', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(module.METRIC_DEFINITIONS))\n"
    )

    # WHEN the recipe module is imported there (as a Lambda building the job request would)
    result = subprocess.run(  # noqa: S603  # this interpreter, our own probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    # THEN its metric definitions are there
    assert json.loads(result.stdout)[0] == {"Name": "train:accuracy", "Regex": r"train:accuracy=(-?[0-9.]+);"}


@pytest.mark.parametrize(
    ("sent", "value"),
    [
        ('"gini"', "gini"),  # the SageMaker SDK JSON-encodes strings
        ("gini", "gini"),
        ("-3", -3),
        ("0.1", 0.1),
        ("1e-3", 0.001),
        ("None", None),
        ("null", None),
        ("true", True),
        ("False", False),
    ],
)
def test_hyperparameter_values_are_read_tolerantly(recipe: object, sent: str, value: object) -> None:
    assert recipe.parse_value(sent) == value  # type: ignore[attr-defined]


def test_text_options_keep_their_text(recipe: object) -> None:
    assert recipe.unquote('"label"') == "label"  # type: ignore[attr-defined]
    assert recipe.unquote("1") == "1"  # type: ignore[attr-defined]
    assert recipe.unquote('"') == '"'  # type: ignore[attr-defined]


def test_arguments_come_as_the_toolkits_pass_them(recipe: object) -> None:
    argv = ["--max_depth", "-3", "-C", "0.5", "--task=regression", "--flag"]

    assert recipe.parse_arguments(argv) == {  # type: ignore[attr-defined]
        "max_depth": "-3",
        "C": "0.5",
        "task": "regression",
        "flag": "true",
    }


def test_a_stray_positional_argument_is_refused(recipe: object) -> None:
    with pytest.raises(recipe.RecipeError, match="unexpected argument 'oops'"):  # type: ignore[attr-defined]
        recipe.parse_arguments(["oops"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", SCRIPTS, ids=[path.relative_to(RECIPES).as_posix() for path in SCRIPTS])
def test_every_recipe_keeps_to_python_3_8(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 8))

    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not [
        node.func.attr
        for node in calls
        if isinstance(node.func, ast.Attribute) and node.func.attr in NEWER_CALLS
    ]
    # zip(strict=...) is 3.10's
    assert not [
        node
        for node in calls
        if isinstance(node.func, ast.Name)
        and node.func.id == "zip"
        and any(keyword.arg == "strict" for keyword in node.keywords)
    ]
