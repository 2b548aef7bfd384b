"""The stop-signal handler on and off the main thread."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from quarrycore.pipeline.signals import StopSignals


async def test_on_the_main_thread_a_signal_asks_to_stop_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seconds: list[str] = []
    signals = StopSignals(on_second=lambda: seconds.append("now"))
    assert signals.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(signals.stopped.wait(), timeout=5)
        assert signals.received == signal.SIGTERM and not seconds
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the loop runs the handler on its next turn
            if seconds:
                break
            await asyncio.sleep(0.01)
        assert seconds == ["now"]
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGTERM) == before


def test_off_the_main_thread_it_installs_nothing_and_raises_nothing() -> None:
    outcome: list[object] = []

    def job() -> None:
        async def run() -> None:
            signals = StopSignals(on_second=lambda: None)
            outcome.append(signals.install())
            signals.restore()
            outcome.append(signals.stop_requested)

        try:
            asyncio.run(run())
        except Exception as exc:  # what a flow run on a worker thread used to hit
            outcome.append(exc)

    before = signal.getsignal(signal.SIGINT)
    worker = threading.Thread(target=job)
    worker.start()
    worker.join(timeout=10)
    assert outcome == [False, False]
    assert signal.getsignal(signal.SIGINT) == before
