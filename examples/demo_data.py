"""A seeded generator of a realistic tabular dataset: card transactions, some of them fraudulent.

Each row is one card transaction with numeric features (`amount`, `account_age_days`,
`transactions_24h`, `distance_km`, `hour`) and categorical ones (`merchant_category`, `channel`,
`country`), a few values missing as in real exports, and a target column `label`:

- `--task classification` (the default): `label` is 1 for fraud, 0 otherwise. Fraud follows a
  nonlinear rule (large amounts on new accounts, bursts of transactions, online purchases at night,
  far-away cross-border use, risky merchants) plus noise, so gradient-boosted trees reach about 0.9
  accuracy or more while always answering the majority class scores about 0.7.
- `--task regression`: `label` is a fraud-risk score between 0 and 100 built from the same signals,
  plus noise.

`--shift` (0 to 1) moves the feature distributions (larger amounts, newer accounts, more online
night-time traffic, more travel) without changing the rule that makes the label: covariate drift for
monitoring demos.

The same `--rows`, `--seed`, `--task` and `--shift` always give the same bytes:

    python examples/demo_data.py --rows 2000 --seed 7 --out demo.csv
    python examples/demo_data.py --rows 2000 --seed 7 --task regression --out demo-regression.csv

From Python: `from examples.demo_data import generate; frame = generate(2000, seed=7)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

TASKS = ("classification", "regression")
TARGET = "label"
MERCHANT_CATEGORIES = (
    "grocery",
    "restaurants",
    "gas",
    "pharmacy",
    "travel",
    "electronics",
    "jewelry",
    "online_gaming",
)
MERCHANT_WEIGHTS = (0.26, 0.2, 0.12, 0.08, 0.1, 0.12, 0.05, 0.07)
RISKY_MERCHANTS = ("electronics", "jewelry", "online_gaming")
CHANNELS = ("chip", "contactless", "online", "swipe")
CHANNEL_WEIGHTS = (0.35, 0.25, 0.3, 0.1)
COUNTRIES = ("US", "CA", "GB", "DE", "MX", "BR", "IN", "JP")
COUNTRY_WEIGHTS = (0.78, 0.05, 0.04, 0.03, 0.04, 0.02, 0.02, 0.02)
HOME_COUNTRY = "US"
# Share of values left empty, as real exports have them.
MISSING_DISTANCE = 0.02
MISSING_MERCHANT = 0.015
# Share of fraud labels flipped at random: no model can be perfect.
LABEL_NOISE = 0.02


def _hour_weights(shift: float) -> np.ndarray:
    """Transactions by hour: a daytime peak, with more night-time traffic as `shift` grows."""
    hours = np.arange(24)
    weights = 0.2 + np.exp(-0.5 * ((hours - 14) / 4.0) ** 2)
    weights[hours < 5] += 0.15 + 0.6 * shift
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def _shifted(weights: Sequence[float], boost: dict[int, float]) -> np.ndarray:
    """Category weights with some categories' weights multiplied, renormalised."""
    adjusted = np.array(weights, dtype=float)
    for index, factor in boost.items():
        adjusted[index] *= factor
    normalised: np.ndarray = adjusted / adjusted.sum()
    return normalised


def _fraud_score(frame: pd.DataFrame) -> np.ndarray:
    """The rule behind the label: a log-odds score from interactions of the features."""
    amount = frame["amount"].to_numpy()
    age = frame["account_age_days"].to_numpy()
    burst = frame["transactions_24h"].to_numpy()
    night_online = (frame["hour"].to_numpy() < 5) & (frame["channel"].to_numpy() == "online")
    far_abroad = (frame["country"].to_numpy() != HOME_COUNTRY) & (frame["distance_km"].to_numpy() > 300)
    risky = np.isin(frame["merchant_category"].to_numpy(), RISKY_MERCHANTS)
    score = (
        -2.8
        + 3.4 * ((age < 90) & (amount > 120))
        + 1.1 * np.clip(burst - 3, 0, 4)
        + 3.2 * night_online
        + 3.6 * far_abroad
        + 1.8 * (risky & (amount > 80))
        + 0.8 * np.log1p(amount) / np.log1p(1000.0)
    )
    return np.asarray(score, dtype=float)


def generate(rows: int, seed: int, task: str = "classification", shift: float = 0.0) -> pd.DataFrame:
    """`rows` card transactions with a `label` column for `task`; the same arguments give the same frame."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if not 0.0 <= shift <= 1.0:
        raise ValueError("shift must be between 0 and 1")
    rng = np.random.RandomState(seed)  # the legacy generator: its streams never change across numpy releases

    new_account = rng.uniform(size=rows) < 0.22 + 0.3 * shift
    account_age = np.where(
        new_account,
        rng.randint(0, 90, size=rows),
        np.minimum(rng.gamma(2.0, 420.0, size=rows).astype(int) + 90, 3650),
    )
    amount = np.round(rng.lognormal(4.1 + 0.6 * shift, 1.0, size=rows), 2)
    bursty = rng.uniform(size=rows) < 0.12
    burst = rng.poisson(1.4, size=rows) + bursty * rng.poisson(4.0, size=rows)
    country = rng.choice(COUNTRIES, size=rows, p=_shifted(COUNTRY_WEIGHTS, {0: 1.0 - 0.5 * shift}))
    abroad = country != HOME_COUNTRY
    distance = np.round(
        np.where(abroad, rng.lognormal(6.3, 0.8, size=rows), rng.lognormal(2.3, 1.1, size=rows)), 1
    )
    frame = pd.DataFrame(
        {
            "amount": amount,
            "account_age_days": account_age,
            "transactions_24h": burst,
            "distance_km": distance,
            "hour": rng.choice(24, size=rows, p=_hour_weights(shift)),
            "merchant_category": rng.choice(
                MERCHANT_CATEGORIES, size=rows, p=_shifted(MERCHANT_WEIGHTS, {4: 1.0 + 2.0 * shift})
            ),
            "channel": rng.choice(CHANNELS, size=rows, p=_shifted(CHANNEL_WEIGHTS, {2: 1.0 + 2.0 * shift})),
            "country": country,
        }
    )
    score = _fraud_score(frame)
    noise = rng.normal(0.0, 0.6, size=rows)
    if task == "classification":
        fraud = (score + noise) > 0
        flip = rng.uniform(size=rows) < LABEL_NOISE
        frame[TARGET] = np.where(flip, ~fraud, fraud).astype(int)
    else:
        risk = 100.0 / (1.0 + np.exp(-(score + noise) / 1.5))
        frame[TARGET] = np.round(risk, 3)
    # Missing values are drawn after the label, from their own stream, so the rule sees complete rows.
    gaps = np.random.RandomState(seed + 1)
    frame.loc[gaps.uniform(size=rows) < MISSING_DISTANCE, "distance_km"] = np.nan
    merchant = frame["merchant_category"].astype(object)
    merchant[gaps.uniform(size=rows) < MISSING_MERCHANT] = None
    frame["merchant_category"] = merchant
    return frame


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes: a header row, `\\n` line endings, no index."""
    text: str = frame.to_csv(index=False)
    return text.encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: write a generated dataset to `--out` (or standard output)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--task", choices=TASKS, default="classification")
    parser.add_argument(
        "--shift", type=float, default=0.0, help="covariate drift from 0 (none) to 1 (strong); default 0"
    )
    parser.add_argument(
        "--out",
        help="CSV file, or s3://bucket/key to upload with boto3 (AWS_ENDPOINT_URL reaches the local "
        "cloud); default: standard output",
    )
    args = parser.parse_args(argv)
    try:
        data = to_csv_bytes(generate(args.rows, args.seed, args.task, args.shift))
    except ValueError as error:
        parser.error(str(error))
    if args.out is None:
        sys.stdout.buffer.write(data)
    elif args.out.startswith("s3://"):
        import boto3  # only for uploads: generating data needs numpy and pandas alone

        bucket, _, key = args.out.removeprefix("s3://").partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
        print(f"uploaded {args.rows} rows to {args.out}", file=sys.stderr)
    else:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
