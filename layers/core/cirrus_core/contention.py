"""The pause after losing an optimistic-concurrency race on a hot item (a conditional write refused).

Full-jitter exponential backoff: a writer that keeps losing widens its window, so many writers on
one item (64 concurrent registrations of one model, every audited call on the audit chain's head)
spread out until about one attempt is in flight per commit, instead of re-colliding every few
milliseconds. The cap is one second: at 0.25 s, 64 writers kept several hundred attempts a second on
one item and most requests ran out of time.
"""

from __future__ import annotations

import random

BASE_SECONDS = 0.004
CAP_SECONDS = 1.0
_jitter = random.SystemRandom()


def backoff_seconds(attempt: int) -> float:
    """Seconds to wait after lost race number `attempt` (from 0): uniform up to min(cap, base * 2^attempt)."""
    return _jitter.uniform(0, min(CAP_SECONDS, BASE_SECONDS * 2 ** min(attempt, 16)))
