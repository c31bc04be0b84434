"""The committed state machines, compiled from their pipeline definitions (docs/pipelines.md).

`statemachines/training_pipeline.asl.json` is the built-in `training` pipeline as
`cirrus_core.pipelines.compiler` compiles it; the template fills its `${...}` placeholders with
`DefinitionSubstitutions`. The file is generated so that it can never drift from the compiler.

    python -m cirrus.statemachines            # write statemachines/*.asl.json
    python -m cirrus.statemachines --check    # exit 1 when a file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cirrus.template import REPO_ROOT
from cirrus_core.pipelines.compiler import builtin_training_definition, compile_definition

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

STATEMACHINES_DIR = REPO_ROOT / "statemachines"

# file name -> what builds its document
MACHINES: dict[str, Callable[[], dict[str, Any]]] = {
    "training_pipeline.asl.json": lambda: compile_definition(builtin_training_definition()),
}


def render(document: dict[str, Any]) -> str:
    """A document as committed: two-space indent, the compiler's key order, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files(directory: Path = STATEMACHINES_DIR) -> dict[Path, str]:
    """Each generated file and the text it should hold."""
    return {directory / name: render(build()) for name, build in MACHINES.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files, or with --check report whether the committed ones are current."""
    parser = argparse.ArgumentParser(
        prog="python -m cirrus.statemachines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from the code")
    parser.add_argument(
        "--directory", type=Path, default=STATEMACHINES_DIR, help="where the .asl.json files live"
    )
    args = parser.parse_args(argv)
    stale = 0
    for path, text in expected_files(args.directory).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            print(f"{path} is stale: run `python -m cirrus.statemachines`.", file=sys.stderr)
            stale += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
