"""Wait for a condition with a deadline, instead of sleeping and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def run_until(
    condition: Callable[[], Any], step: Callable[[], Any] | None = None, timeout: float = 10.0
) -> Any:
    """Call `step` (or wait briefly) until `condition()` is truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        if step is not None:
            step()
        else:
            time.sleep(0.05)
