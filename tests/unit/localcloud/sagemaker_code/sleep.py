"""A training script that runs far longer than its MaxRuntimeInSeconds."""

import time

print("starting a long epoch", flush=True)
time.sleep(120)
