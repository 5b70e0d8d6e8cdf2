"""A child process of the conformance suite: opens a shared store and claims runs in it.

Usage: ``worker.py claim SPEC RUN_ID COUNT`` (after "go" on stdin, COUNT concurrent claims of
RUN_ID; prints how many won) or ``worker.py hold SPEC RUN_ID`` (claims RUN_ID, prints its
lease, then waits until killed). Prints ``ready`` first, once the store is open.
"""

from __future__ import annotations

import asyncio
import json
import sys

import attrs

from storage_conformance.cases import open_spec


async def claim(spec: str, run_id: str, count: int) -> None:
    store = open_spec(spec)
    await store.get_run("wf", run_id)  # the store is open before the race starts
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    claims = [store.claim_run("wf", run_id, "running", expected="pending") for _ in range(count)]
    leases = [lease for lease in await asyncio.gather(*claims) if lease is not None]
    print(json.dumps({"won": len(leases), "owners": [lease.owner for lease in leases]}), flush=True)
    await store.close()


async def hold(spec: str, run_id: str) -> None:
    store = open_spec(spec)
    lease = await store.claim_run("wf", run_id, "running", expected="pending")
    print("ready", flush=True)
    print(json.dumps(None if lease is None else attrs.asdict(lease)), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # until killed (or stdin closes)
    await store.close()


def main(argv: list[str]) -> None:
    mode, spec, run_id = argv[1], argv[2], argv[3]
    if mode == "claim":
        asyncio.run(claim(spec, run_id, int(argv[4])))
    elif mode == "hold":
        asyncio.run(hold(spec, run_id))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
