"""A child process for ``test_storage.py``: waits for "go" on stdin, then works on a SQLite file.

Usage: ``storage_worker.py write DB WORKER COUNT`` or ``storage_worker.py claim DB``.
Prints ``ready`` when it is ready to start, then one JSON line with what it did.
"""

from __future__ import annotations

import asyncio
import json
import sys

from rxflow.storage import SQLiteStorage


def wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


async def write(db: str, worker: str, count: int) -> None:
    """Open the file only after "go", so every worker also races to create it."""
    wait_for_go()
    async with SQLiteStorage(db) as storage:
        for i in range(count):
            snapshot = {"runId": f"w{worker}-{i}", "status": "running", "value": {"i": i}}
            await storage.persist_snapshot(
                "wf", f"w{worker}-{i}", snapshot, resource_id=f"worker-{worker}"
            )
    print(json.dumps({"written": count}), flush=True)


async def claim(db: str) -> None:
    """Open the file before "go", so only the compare-and-set itself races."""
    async with SQLiteStorage(db) as storage:
        wait_for_go()
        won = await storage.update_status("wf", "contested", "running", expected="suspended")
    print(json.dumps({"won": won}), flush=True)


def main(argv: list[str]) -> None:
    mode, db = argv[1], argv[2]
    if mode == "write":
        asyncio.run(write(db, argv[3], int(argv[4])))
    elif mode == "claim":
        asyncio.run(claim(db))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
