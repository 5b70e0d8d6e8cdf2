"""A user's own Storage, written against the documented protocol alone, runs and resumes."""

from __future__ import annotations

import json
from typing import Any

import attrs
from _steps import ask

from rxflow import RunList, RunRecord, create_step, create_workflow

# --- a dict-backed store ----------------------------------------------------------------------


class DictStorage:
    """A user's own Storage: plain dicts, written only against the documented protocol."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], RunRecord] = {}
        self.calls: list[str] = []
        self.clock = 0

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    async def persist_snapshot(
        self,
        workflow_id: str,
        run_id: str,
        snapshot: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> None:
        self.calls.append(f"persist:{snapshot['status']}")
        stored = json.loads(json.dumps(snapshot))  # must be JSON data
        old = self.rows.get((workflow_id, run_id))
        now = self._tick()
        self.rows[(workflow_id, run_id)] = RunRecord(
            workflow_id,
            run_id,
            resource_id if resource_id is not None else (old.resource_id if old else None),
            snapshot["status"],
            stored,
            old.created_at if old else now,
            now,
        )

    async def load_snapshot(self, workflow_id: str, run_id: str) -> dict[str, Any] | None:
        record = self.rows.get((workflow_id, run_id))
        return json.loads(json.dumps(record.snapshot)) if record else None

    async def update_status(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        *,
        expected: str | tuple[str, ...] | None = None,
    ) -> bool:
        self.calls.append(f"update:{status}")
        record = self.rows.get((workflow_id, run_id))
        if record is None:
            return False
        allowed = (expected,) if isinstance(expected, str) else expected
        if allowed is not None and record.status not in allowed:
            return False
        self.rows[(workflow_id, run_id)] = attrs.evolve(
            record,
            status=status,
            snapshot={**record.snapshot, "status": status},
            updated_at=self._tick(),
        )
        return True

    async def get_run(self, workflow_id: str, run_id: str) -> RunRecord | None:
        return self.rows.get((workflow_id, run_id))

    async def list_runs(
        self,
        workflow_id: str | None = None,
        *,
        status: str | None = None,
        resource_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> RunList:
        runs = [
            r
            for r in sorted(self.rows.values(), key=lambda r: -r.created_at)
            if workflow_id in (None, r.workflow_id)
            and status in (None, r.status)
            and resource_id in (None, r.resource_id)
        ]
        return RunList(runs[offset : offset + limit], len(runs))

    async def delete_run(self, workflow_id: str, run_id: str) -> bool:
        return self.rows.pop((workflow_id, run_id), None) is not None

    async def close(self) -> None:
        self.calls.append("close")


async def test_a_users_own_storage_runs_suspends_and_resumes_from_a_new_run() -> None:
    store = DictStorage()
    calls: list[str] = []

    async def first(ctx: Any) -> Any:
        calls.append("first")
        return ctx.input_data + 1

    def build() -> Any:
        return (
            create_workflow(id="own", storage=store)
            .then(create_step(id="first", execute=first))
            .then(create_step(id="ask", execute=ask))
            .commit()
        )

    run = await build().create_run(run_id="own-1", resource_id="r")
    assert store.rows[("own", "own-1")].status == "pending"
    assert (await run.start(input_data=1)).status == "suspended"
    assert store.rows[("own", "own-1")].status == "suspended"

    attached = await build().create_run(run_id="own-1")
    assert attached.status == "suspended"
    result = await attached.resume(resume_data="done")
    assert (result.status, result.result) == ("success", "done")
    assert calls == ["first"]
    record = store.rows[("own", "own-1")]
    assert (record.status, record.resource_id) == ("success", "r")
    assert record.snapshot["result"] == "done"
