"""Fixtures of the live-screen tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from hmi import feeds


@pytest_asyncio.fixture
async def live_hub() -> AsyncIterator[None]:
    """End what a test's sockets left running while its event loop still runs: the live hub
    and consumers the test did not disconnect. A channel-layer receive cancelled only when
    the loop closes hangs the loop's close."""
    yield
    await feeds.close_hub()
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=5)
