"""Inference whose model_fn can be held back or made to fail, for the hosting lifecycle tests.

model.json may hold `gate`, a file path: model_fn waits (at most a minute) until that file exists,
so a test sees an endpoint Creating or Updating for as long as it needs; and `fail`, a message
model_fn raises, as a model with corrupt weights would.
"""

import json
import os
import time

from inference import LinearModel  # a sibling module

GATE_WAIT_SECONDS = 60.0


def model_fn(model_dir: str) -> LinearModel:
    with open(os.path.join(model_dir, "model.json")) as source:
        params = json.load(source)
    gate = params.get("gate")
    if gate:
        deadline = time.monotonic() + GATE_WAIT_SECONDS
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
    if params.get("fail"):
        raise RuntimeError(params["fail"])
    return LinearModel(params["a"], params["b"])
