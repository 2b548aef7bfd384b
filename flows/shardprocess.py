"""``python -m quarrycore.flows.shardprocess '<parameters as JSON>'``: one shard of a job
fanned out, run as a local process by a parent run without a deployment. It runs the
same flow as a shard's flow run on a worker; its exit code tells the parent how it
ended (0: completed or stopped cleanly; a signal: crashed)."""

from __future__ import annotations

import json
import sys

from quarrycore.flows.crawl import quarry_crawl


def main(argv: list[str]) -> int:
    parameters = json.loads(argv[1])
    quarry_crawl(**parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
