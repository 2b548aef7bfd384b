"""The Scrapy engine of bench/compare.py: a spider with ``trafilatura.extract`` in its
callback, writing JSON lines, as a user would write it. Run in the benchmark's own
environment (Scrapy is not a dependency of QuarryCore):

    .cache/bench-venv/bin/scrapy runspider bench/scrapy_spider.py -a urls_file=urls.txt \\
        -O out.jsonl
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
import trafilatura


class ExtractSpider(scrapy.Spider):  # type: ignore[misc]
    name = "extract"

    def __init__(self, urls_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls_file = urls_file

    async def start(self) -> AsyncIterator[scrapy.Request]:  # Scrapy 2.13+
        with open(self.urls_file, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield scrapy.Request(line.strip(), callback=self.parse, dont_filter=True)

    def parse(self, response: Any) -> Iterator[dict[str, Any]]:
        text = trafilatura.extract(response.text, url=response.url)
        yield {"url": response.url, "status": response.status, "text": text or ""}
