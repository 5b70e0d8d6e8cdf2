"""Claims across real processes sharing one store: one winner; a killed owner's runs are taken
over at once on the same host, and its lease can no longer write."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rxflow.errors import LeaseLostError
from rxflow.storage import Lease, Storage
from rxflow.storage.lease import holder_is_gone, this_host

from .cases import StoreCase

TESTS = Path(__file__).resolve().parents[1]
PROJECT_ROOT = TESTS.parent


def snap(run_id: str, status: str) -> dict[str, Any]:
    return {"runId": run_id, "status": status, "value": {}, "context": {}}


def spawn(*argv: str) -> subprocess.Popen[str]:
    """A ``worker.py`` process, once it printed ``ready`` (its store is open)."""
    paths = [str(PROJECT_ROOT), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    proc = subprocess.Popen(
        [sys.executable, "-m", "storage_conformance.worker", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.kill()
        pytest.fail(f"worker did not get ready: {line!r} {proc.communicate()[1]}")
    return proc


def outputs(procs: list[subprocess.Popen[str]]) -> Iterator[Any]:
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        yield json.loads(out)


async def test_one_of_twenty_claimers_in_two_processes_wins(
    shared_case: StoreCase, shared_store: Storage, tmp_path: Path
) -> None:
    await shared_store.persist_snapshot("wf", "contested", snap("contested", "pending"))
    spec = shared_case.spec(tmp_path)
    procs = [spawn("claim", spec, "contested", "10") for _ in range(2)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()

    results = await asyncio.to_thread(lambda: list(outputs(procs)))

    assert sum(r["won"] for r in results) == 1
    (owner,) = [owner for r in results for owner in r["owners"]]
    record = await shared_store.get_run("wf", "contested")
    assert record is not None and record.lease is not None
    assert (record.status, record.lease.owner, record.lease.version) == ("running", owner, 1)


def hold(spec: str, run_id: str) -> tuple[subprocess.Popen[str], Lease]:
    """A process that claimed ``run_id`` and keeps holding it; and its lease."""
    proc = spawn("hold", spec, run_id)
    assert proc.stdout is not None
    held = json.loads(proc.stdout.readline())
    assert held is not None, "the holder lost its claim"
    return proc, Lease(**held)


async def test_a_killed_owners_run_is_claimed_at_once_and_its_lease_is_dead(
    shared_case: StoreCase, shared_store: Storage, tmp_path: Path
) -> None:
    # On the wall clock with the default 30 s lease: only the dead process frees the run.
    await shared_store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    proc, stale = hold(shared_case.spec(tmp_path), "r1")
    assert (stale.host, stale.pid, stale.version) == (this_host(), proc.pid, 1)
    assert await shared_store.claim_run("wf", "r1", "restarting", expected="running") is None

    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait, 60)  # reaped, as a supervisor would
    assert proc.returncode == -signal.SIGKILL

    lease = await shared_store.claim_run("wf", "r1", "restarting", expected="running")

    assert lease is not None and lease.version == 2 and lease.pid == os.getpid()
    assert lease.expires_at < stale.expires_at + 60_000
    with pytest.raises(LeaseLostError):
        await shared_store.checkpoint(stale, state={"status": "success"})
    record = await shared_store.get_run("wf", "r1")
    assert record is not None and (record.status, record.lease) == ("restarting", lease)


async def test_a_killed_owners_run_is_listed_as_orphaned_at_once(
    shared_case: StoreCase, shared_store: Storage, tmp_path: Path
) -> None:
    await shared_store.persist_snapshot("wf", "r1", snap("r1", "pending"))
    await shared_store.persist_snapshot("wf", "r2", snap("r2", "pending"))
    spec = shared_case.spec(tmp_path)
    dying, _ = hold(spec, "r1")
    living, _ = hold(spec, "r2")
    try:
        assert (await shared_store.list_runs(orphaned=True)).total == 0

        dying.send_signal(signal.SIGKILL)
        await asyncio.to_thread(dying.wait, 60)

        listed = await shared_store.list_runs(orphaned=True)
        assert ([r.run_id for r in listed.runs], listed.total) == (["r1"], 1)
    finally:
        living.kill()
        await asyncio.to_thread(living.wait, 60)


def test_only_a_lease_of_this_host_can_be_known_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(60)  # this pid now names no process (until the system reuses it)

    assert holder_is_gone(this_host(), proc.pid) is True
    assert holder_is_gone("another-host", proc.pid) is False
    assert holder_is_gone(this_host(), os.getpid()) is False
    assert holder_is_gone(None, proc.pid) is False
    assert holder_is_gone(this_host(), None) is False


def test_a_zombie_counts_as_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert holder_is_gone(this_host(), proc.pid) is True
    finally:
        proc.wait(60)
