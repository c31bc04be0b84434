"""A training script that fails as SageMaker asks: the reason in output/failure, then exit 1."""

import os
import sys

with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as failure:
    failure.write("ValueError: column y is missing from train.csv")
sys.exit(1)
