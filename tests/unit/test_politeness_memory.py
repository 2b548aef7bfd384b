"""Per-host state stays bounded on a crawl of many hosts: idle gates and cached
robots.txt files are forgotten least recently used first; a busy or paused gate is kept."""

from __future__ import annotations

from quarrycore.fetch.politeness import HostGate, HostGates
from quarrycore.fetch.robots import RobotsCache


def _gate() -> HostGate:
    return HostGate(concurrency=2, delay=0.0)


async def test_idle_gates_are_forgotten_least_recently_used_first() -> None:
    gates = HostGates(_gate, limit=3)
    first = gates.get("a.test")
    for host in ("b.test", "c.test"):
        gates.get(host)
    assert gates.get("a.test") is first  # used again: now the most recent
    for i in range(100):
        gates.get(f"h{i}.test")
    assert len(gates) == 3
    assert gates.get("a.test") is not first  # forgotten, and made anew


async def test_a_busy_or_paused_gate_is_kept_past_the_limit() -> None:
    gates = HostGates(_gate, limit=2)
    paused = gates.get("paused.test")
    paused.pause(60)
    busy = gates.get("busy.test")
    async with busy.slot():
        for i in range(10):
            gates.get(f"h{i}.test")
        assert gates.get("busy.test") is busy
    assert gates.get("paused.test") is paused
    assert len(gates) <= 4  # the two kept, and the newest


async def test_cached_robots_files_are_bounded() -> None:
    asked: list[str] = []

    async def fetch(url: str) -> tuple[int, bytes]:
        asked.append(url)
        return 200, b"User-agent: *\nDisallow: /private\n"

    robots = RobotsCache(fetch, user_agent="QuarryCore/0.1", ttl=3600, max_entries=5)
    for i in range(50):
        await robots.check(f"http://h{i}.test/page")
    assert len(robots) == 5
    await robots.check("http://h49.test/other")  # still cached: not asked again
    await robots.check("http://h0.test/other")  # forgotten: asked again
    assert asked.count("http://h49.test/robots.txt") == 1
    assert asked.count("http://h0.test/robots.txt") == 2
