"""The size of a large job on PostgreSQL: N URLs registered into a fresh database
(psycopg 3), split into shards by host (fan-out), then the table and index sizes of
job_urls as PostgreSQL reports them.

    .venv/bin/python bench/pg_sizes.py --urls 1000000 \\
        --admin postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import secrets
import time

import sqlalchemy as sa

from quarrycore.settings import TRACKING_PARAMS
from quarrycore.store import DocumentStore
from quarrycore.store.intake import register_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8, help="then fan the job out")
    parser.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"quarry_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(
        args.admin.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = args.admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = DocumentStore(url)
        store.start_job("big", {})
        urls = (f"https://host{i % 1000}.example/page/{i}" for i in range(args.urls))
        started = time.perf_counter()
        register_inputs(store, "big", urls, drop_params=TRACKING_PARAMS)
        took = time.perf_counter() - started
        started = time.perf_counter()
        per_shard = store.shards.split("big", args.shards)
        split_took = time.perf_counter() - started
        with store.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE job_urls"))
            rows = conn.execute(
                sa.text(
                    "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                    "WHERE relname = 'job_urls' ORDER BY indexrelname"
                )
            ).all()
            table = conn.execute(sa.text("SELECT pg_relation_size('job_urls')")).scalar_one()
            total = conn.execute(sa.text("SELECT pg_total_relation_size('job_urls')")).scalar_one()
        store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\n{args.urls:,} URLs registered in {took:.1f} s")
    print(
        f"split into {args.shards} shards by host in {split_took:.1f} s: "
        + ", ".join(f"{n:,}" for _, n in sorted(per_shard.items()))
    )
    print(f"job_urls heap: {table / 1e6:.0f} MB; with indexes and TOAST: {total / 1e6:.0f} MB")
    for index, size in rows:
        print(f"  index {index}: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
