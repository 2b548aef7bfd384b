"""Which discovered links a link-following crawl enqueues."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from quarrycore.records import Batch


@dataclass(frozen=True, slots=True, kw_only=True)
class CrawlScope:
    """The bounds of a link-following crawl; kept with the job so a resume keeps them.

    ``max_depth`` 0 follows no links (the input URLs only). ``max_pages`` caps the URLs a
    job ever holds (inputs and discovered links together). With ``same_host`` links stay
    on the seeds' hosts; ``allow_domains`` admits those domains and their subdomains."""

    max_depth: int = 0
    max_pages: int | None = None
    same_host: bool = True
    seed_hosts: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _include: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _exclude: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_include", tuple(re.compile(p) for p in self.include))
        object.__setattr__(self, "_exclude", tuple(re.compile(p) for p in self.exclude))

    @property
    def follows_links(self) -> bool:
        return self.max_depth > 0

    def accepts(self, url: str, depth: int) -> bool:
        if depth > self.max_depth:
            return False
        host = (urlsplit(url).hostname or "").lower()
        if self.allow_domains:
            if not any(host == d or host.endswith("." + d) for d in self.allow_domains):
                return False
        elif self.same_host and urlsplit(url).netloc.lower() not in self.seed_hosts:
            return False
        if self._include and not any(p.search(url) for p in self._include):
            return False
        return not any(p.search(url) for p in self._exclude)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_include", None)
        data.pop("_exclude", None)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlScope:
        return cls(
            max_depth=int(data.get("max_depth", 0)),
            max_pages=data.get("max_pages"),
            same_host=bool(data.get("same_host", True)),
            seed_hosts=tuple(data.get("seed_hosts", ())),
            allow_domains=tuple(d.lower().lstrip(".") for d in data.get("allow_domains", ())),
            include=tuple(data.get("include", ())),
            exclude=tuple(data.get("exclude", ())),
        )


def discover_links(batch: Batch, scope: CrawlScope) -> list[tuple[str, int]]:
    """The in-scope links of a batch's documents, each with its depth."""
    links: list[tuple[str, int]] = []
    for record in batch.records:
        depth = record.depth + 1
        if record.document is None or not record.open or depth > scope.max_depth:
            continue
        links.extend(
            (link, depth) for link in record.document.out_links if scope.accepts(link, depth)
        )
    return links
