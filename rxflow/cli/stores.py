"""The command's store (``--db PATH``, default ``./rxflow.db``, or ``--storage-url``) and
finding stored runs by id (or a unique prefix of one) across workflows."""

from __future__ import annotations

import os
from typing import Any

from ..errors import StorageError
from ..storage import RunRecord, SQLiteStorage, Storage
from .exits import UsageProblem

__all__ = ["DEFAULT_DB", "StoreChoice", "find_run", "open_store"]

DEFAULT_DB = "rxflow.db"

_PAGE = 200


class StoreChoice:
    """Where runs are kept, as the command line said: ``--db`` or ``--storage-url``."""

    def __init__(self, db: str | None, url: str | None) -> None:
        if db is not None and url is not None:
            raise UsageProblem("--db and --storage-url: give one of them, not both")
        self.db = db
        self.url = url

    def describe(self) -> str:
        """How to name this store again on a later command line ('' for the default)."""
        if self.url is not None:
            return f" --storage-url {self.url}"
        if self.db is not None and os.path.normpath(self.db) != DEFAULT_DB:
            return f" --db {self.db}"
        return ""


def open_store(choice: StoreChoice, *, must_exist: bool = False) -> Storage:
    """The store the command line chose; ``must_exist`` refuses a SQLite file that is not
    there (commands that only read runs)."""
    if choice.url is not None:
        return _from_url(choice.url, must_exist)
    path = choice.db if choice.db is not None else DEFAULT_DB
    return _sqlite(path, "--db", must_exist)


def _sqlite(path: str, option: str, must_exist: bool) -> Storage:
    if must_exist and not os.path.exists(path):
        raise UsageProblem(f"{option} {path}: no such file (no runs were stored there)")
    try:
        return SQLiteStorage(path)
    except StorageError as error:
        raise UsageProblem(f"{option} {path}: {error}") from None


def _from_url(url: str, must_exist: bool) -> Storage:
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        return _sqlite(
            rest.lstrip("/") if rest.startswith("//") else rest, "--storage-url", must_exist
        )
    if scheme in ("postgresql", "postgres"):
        from .. import storage

        try:
            postgres: Any = storage.PostgresStorage
        except (AttributeError, ImportError) as error:
            raise UsageProblem(f"--storage-url: {error}") from None
        store: Storage = postgres(url)
        return store
    raise UsageProblem(
        f"--storage-url {url!r}: expected sqlite:///PATH or postgresql://..., got scheme {scheme!r}"
    )


async def find_run(store: Storage, run_id: str, workflow_id: str | None = None) -> RunRecord:
    """The stored run ``run_id`` (a unique prefix will do), of any workflow unless given."""
    if workflow_id is not None:
        record = await store.get_run(workflow_id, run_id)
        if record is not None:
            return record
    matches: list[RunRecord] = []
    offset = 0
    while True:
        page = await store.list_runs(workflow_id, limit=_PAGE, offset=offset)
        for record in page.runs:
            if record.run_id == run_id:
                return record
            if record.run_id.startswith(run_id):
                matches.append(record)
        offset += len(page.runs)
        if not page.runs or offset >= page.total:
            break
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(r.run_id for r in matches[:5])
        raise UsageProblem(f"RUN_ID {run_id!r} is ambiguous: it starts {len(matches)} runs ({ids})")
    of = f" of workflow {workflow_id!r}" if workflow_id else ""
    raise UsageProblem(f"RUN_ID {run_id!r}: no stored run{of} has this id")
