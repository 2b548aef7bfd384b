"""URLs waiting for a paused host are visible while they wait (the progress line and the
run's log read this), and leave the queue when their request starts or is cancelled."""

from __future__ import annotations

import asyncio

from quarrycore.cli.progress import queue_line
from quarrycore.fetch.politeness import HOST_QUEUE, HostGate


async def test_urls_behind_a_paused_host_are_counted_while_they_wait() -> None:
    gate = HostGate(concurrency=1, delay=0.0)
    gate.pause(0.6)
    started: list[int] = []

    async def request(i: int) -> None:
        async with gate.slot():
            started.append(i)

    before, _ = HOST_QUEUE.snapshot()
    tasks = [asyncio.create_task(request(i)) for i in range(3)]
    while HOST_QUEUE.snapshot()[0] < before + 3:
        await asyncio.sleep(0.01)
    waiting, longest = HOST_QUEUE.snapshot()
    assert waiting - before == 3 and not started
    assert "3 waiting for their host" in queue_line(waiting - before, longest)
    await asyncio.gather(*tasks)
    assert started == [0, 1, 2]
    assert HOST_QUEUE.snapshot()[0] == before


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    gate = HostGate(concurrency=1, delay=0.0)
    gate.pause(60)
    before, _ = HOST_QUEUE.snapshot()

    async def request() -> None:
        async with gate.slot():
            raise AssertionError("the host is paused")

    task = asyncio.create_task(request())
    while HOST_QUEUE.snapshot()[0] == before:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert HOST_QUEUE.snapshot()[0] == before
    assert queue_line(0, 0.0) == ""
