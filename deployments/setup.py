"""Set up a Prefect server for QuarryCore, once; safe to run again.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.setup

It creates the process work pool ``quarry-pool`` (if missing), registers QuarryCore's
block types, and deploys everything in ``prefect.yaml``. With ``--store-url`` it also
saves the store's URL as a prefect-sqlalchemy ``SqlAlchemyConnector`` block (password as
a secret); runs then take ``database_block: quarry-store`` instead of ``database_url``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.settings import PREFECT_API_URL

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "quarry-pool"
STORE_BLOCK = "quarry-store"


async def ensure_work_pool(name: str) -> bool:
    """Create the process work pool; False when it was there already."""
    async with get_client() as client:
        try:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            return False
    return True


def _prefect(*args: str) -> None:
    env = {**os.environ, "QUARRY_PROJECT_DIR": str(PROJECT_DIR)}
    subprocess.run([sys.executable, "-m", "prefect", *args], cwd=PROJECT_DIR, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", default=WORK_POOL, help="work pool name (process type)")
    parser.add_argument("--store-url", help="save this database URL as a connector block")
    parser.add_argument("--store-block", default=STORE_BLOCK, help="that block's name")
    args = parser.parse_args()
    if not PREFECT_API_URL.value():
        sys.exit("set PREFECT_API_URL to the server to set up, e.g. http://127.0.0.1:4200/api")
    created = asyncio.run(ensure_work_pool(args.pool))
    print(f"work pool {args.pool}: {'created' if created else 'already there'}")
    _prefect("block", "register", "-m", "quarrycore.blocks")
    if args.store_url:
        from quarrycore.blocks.store import connector_for

        connector_for(args.store_url).save(args.store_block, overwrite=True)
        print(f"store: block {args.store_block!r} saved (database_block={args.store_block})")
    _prefect("--no-prompt", "deploy", "--all")
    print(f"done: start a worker here with `prefect worker start --pool {args.pool}`")


if __name__ == "__main__":
    main()
