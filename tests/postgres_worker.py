"""A child process of the PostgreSQL tests: opens a ``PostgresStorage`` on a DSN and acts on it.

Usage (the DSN names the schema through its search path):

- ``postgres_worker.py migrate DSN``: prints ``ready``, waits for ``go`` on stdin, opens the store
  (creating or upgrading its tables), prints ``{"ok": true}``.
- ``postgres_worker.py wait_cancel DSN RUN_ID``: holds run ``RUN_ID`` (workflow ``wf``), waits
  for a cancel of run ``warm-up`` (so the store is listening), prints ``ready``, then waits for
  a cancel of ``RUN_ID`` and prints ``{"woken_at": <time.monotonic()>}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from rxflow.storage.postgres import PostgresStorage


async def migrate(dsn: str) -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    async with PostgresStorage(dsn):
        print(json.dumps({"ok": True}), flush=True)


async def wait_cancel(dsn: str, run_id: str) -> None:
    async with PostgresStorage(dsn) as store:
        lease = await store.claim_run("wf", run_id, "running", expected="pending")
        assert lease is not None, "the run could not be claimed"
        await store.wait_cancel("wf", "warm-up")
        print("ready", flush=True)
        await store.wait_cancel("wf", run_id)
        woken_at = time.monotonic()
        print(json.dumps({"woken_at": woken_at}), flush=True)


def main(argv: list[str]) -> None:
    mode, dsn = argv[1], argv[2]
    if mode == "migrate":
        asyncio.run(migrate(dsn))
    elif mode == "wait_cancel":
        asyncio.run(wait_cancel(dsn, argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
