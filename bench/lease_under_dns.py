"""How long a heartbeat and a commit wait while 32 DNS lookups are slow.

A resolver that takes ``--dns-seconds`` per lookup (socket.getaddrinfo made slow, as a
broken nameserver is) serves 32 lookups at once, as a batch of new hosts asks. The same
run measures the delay of a no-op on the loop's default executor (where commits and
checkpoints run) and on the lease's own thread, first with the lookups on the default
executor (``loop.getaddrinfo``: the baseline, as before) and then through
``GuardedBackend`` (lookups on threads of their own).

    .venv/bin/python bench/lease_under_dns.py --dns-seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from quarrycore.fetch.netguard import AddressPolicy, GuardedBackend

LOOKUPS = 32


def slow_resolver(seconds: float) -> Callable[..., Any]:
    real = socket.getaddrinfo

    def lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return real("127.0.0.1", *args, **kwargs)

    return lookup


async def delays(resolve: Callable[[str], Coroutine[Any, Any, object]]) -> tuple[float, float]:
    """(default-executor delay, lease-thread delay) of a no-op, with the lookups going."""
    loop = asyncio.get_running_loop()
    lease = ThreadPoolExecutor(max_workers=1)
    lookups = [asyncio.create_task(resolve(f"host{i}.test")) for i in range(LOOKUPS)]
    await asyncio.sleep(0.1)  # the lookups hold their threads now
    started = time.perf_counter()
    await asyncio.to_thread(lambda: None)
    default = time.perf_counter() - started
    started = time.perf_counter()
    await loop.run_in_executor(lease, lambda: None)
    own = time.perf_counter() - started
    await asyncio.gather(*lookups)
    lease.shutdown()
    return default, own


async def main_async(seconds: float) -> None:
    socket.getaddrinfo = slow_resolver(seconds)
    loop = asyncio.get_running_loop()

    async def on_default_executor(host: str) -> object:
        return await loop.getaddrinfo(host, 80, type=socket.SOCK_STREAM)

    backend = GuardedBackend(AddressPolicy(allow_private=True), resolvers=LOOKUPS)

    async def on_own_threads(host: str) -> object:
        return await backend.resolve(host, 80)

    base = await delays(on_default_executor)
    ours = await delays(on_own_threads)
    backend.close()
    print(f"{LOOKUPS} lookups of {seconds:g} s each, {__import__('os').cpu_count()} cores")
    # Before this change heartbeats ran on the default executor too (asyncio.to_thread).
    print(f"{'lookups on':<26}{'default executor no-op':>24}{'lease thread no-op':>20}")
    print(f"{'default executor (before)':<26}{base[0]:>23.2f}s{base[1]:>19.3f}s")
    print(f"{'own threads (now)':<26}{ours[0]:>23.3f}s{ours[1]:>19.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dns-seconds", type=float, default=3.0)
    asyncio.run(main_async(parser.parse_args().dns_seconds))


if __name__ == "__main__":
    main()
