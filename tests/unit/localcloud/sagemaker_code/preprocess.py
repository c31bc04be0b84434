"""A processing script: scales every value of the input CSVs by $SCALE into one output file."""

import argparse
import os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True)
parser.add_argument("--output", required=True)
parser.add_argument("--message", required=True)
args = parser.parse_args()

scale = float(os.environ["SCALE"])
rows = []
for path in sorted(Path(args.input).glob("*.csv")):
    for line in path.read_text().splitlines():
        rows.append(",".join(str(float(value) * scale) for value in line.split(",")))
Path(args.output, "clean.csv").write_text("\n".join(rows) + "\n")
Path(args.message).write_text(f"scaled {len(rows)} rows")
print(f"scaled {len(rows)} rows by {scale}")
