"""The sample site that ``quarry demo`` and ``quarry serve-sample`` serve and crawl."""

from quarrycore.demo.site import SAMPLE_PAGES, SampleSite, sample_pages

__all__ = ["SAMPLE_PAGES", "SampleSite", "sample_pages"]
