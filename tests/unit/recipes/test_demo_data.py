"""examples/demo_data.py: a seeded, reproducible card-transaction dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples.demo_data import generate, to_csv_bytes

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "demo_data.py"
FEATURES = [
    "amount",
    "account_age_days",
    "transactions_24h",
    "distance_km",
    "hour",
    "merchant_category",
    "channel",
    "country",
]


def test_the_same_seed_gives_the_same_bytes() -> None:
    assert to_csv_bytes(generate(500, seed=7)) == to_csv_bytes(generate(500, seed=7))


def test_another_seed_gives_other_rows() -> None:
    assert to_csv_bytes(generate(500, seed=7)) != to_csv_bytes(generate(500, seed=8))


def test_the_command_line_writes_what_generate_returns(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"

    subprocess.run(  # noqa: S603  # this interpreter and the example script
        [
            sys.executable,
            str(SCRIPT),
            "--rows",
            "300",
            "--seed",
            "7",
            "--task",
            "regression",
            "--out",
            str(out),
        ],
        check=True,
    )

    assert out.read_bytes() == to_csv_bytes(generate(300, seed=7, task="regression"))


def test_classification_rows_are_realistic_and_the_label_is_not_trivial() -> None:
    frame = generate(2000, seed=7)

    assert list(frame.columns) == [*FEATURES, "label"]
    assert set(frame["label"]) == {0, 1}
    assert 0.2 < frame["label"].mean() < 0.45
    assert frame["amount"].min() > 0
    assert frame["hour"].between(0, 23).all()
    assert frame["distance_km"].isna().any()  # some values are missing, as in real exports
    assert frame["merchant_category"].isna().any()
    assert set(frame["channel"]) == {"chip", "contactless", "online", "swipe"}


def test_regression_labels_are_risk_scores() -> None:
    labels = generate(1000, seed=7, task="regression")["label"]

    assert labels.between(0, 100).all()
    assert labels.std() > 10


def test_shift_moves_the_features_not_the_columns() -> None:
    plain, shifted = generate(2000, seed=7), generate(2000, seed=7, shift=1.0)

    assert list(shifted.columns) == list(plain.columns)
    assert shifted["amount"].median() > 1.5 * plain["amount"].median()
    assert (shifted["channel"] == "online").mean() > (plain["channel"] == "online").mean() + 0.2


@pytest.mark.parametrize(
    ("rows", "task", "shift"), [(0, "classification", 0.0), (10, "ranking", 0.0), (10, "regression", 2.0)]
)
def test_bad_arguments_are_refused(rows: int, task: str, shift: float) -> None:
    with pytest.raises(ValueError, match="must"):
        generate(rows, seed=1, task=task, shift=shift)
