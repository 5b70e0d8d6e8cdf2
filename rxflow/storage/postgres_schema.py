"""The tables of ``PostgresStorage``, their version, and the migrations that bring a database to it.

A new database gets the current layout in one step; an older one is upgraded step by step.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import attrs
from psycopg.rows import tuple_row

from ..errors import StorageError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = [
    "COUNTS",
    "EVENTS",
    "RESULTS",
    "RESULT_SEQUENCE",
    "RUNS",
    "SCHEMA_VERSION",
    "UPGRADES",
    "VERSION_TABLE",
    "Migration",
    "channel_of",
    "migrate",
]

RUNS = "rxflow_workflow_snapshot"
RESULTS = "rxflow_step_result"
RESULT_SEQUENCE = f"{RESULTS}_seq_seq"
COUNTS = "rxflow_run_count"
EVENTS = "rxflow_event"
VERSION_TABLE = "rxflow_schema_version"
SCHEMA_VERSION = 2


@attrs.frozen
class Migration:
    """One upgrade step: the statements that bring a database to ``version`` from the one before."""

    version: int
    summary: str
    statements: tuple[str, ...]


# One order for every listing: newest first, then latest inserted. Each filter list_runs takes
# (none, workflow, status, workflow and status, resource) has an index in that order, so a
# page is read from the top of one index. resource_id is indexed only where it is set.
_ORDER = "created_at DESC, id DESC"
_INDEXES = (
    f"CREATE INDEX {RUNS}_by_created ON {RUNS} ({_ORDER})",
    f"CREATE INDEX {RUNS}_by_workflow ON {RUNS} (workflow_id, {_ORDER})",
    f"CREATE INDEX {RUNS}_by_status ON {RUNS} (status, {_ORDER})",
    f"CREATE INDEX {RUNS}_by_workflow_status ON {RUNS} (workflow_id, status, {_ORDER})",
    f"CREATE INDEX {RUNS}_by_resource ON {RUNS} (resource_id, {_ORDER})"
    " WHERE resource_id IS NOT NULL",
)

# snapshot: the run's snapshot as last persisted, never rewritten by checkpoints; patch: the
# top-level keys that checkpoints and status changes set since (small, or NULL); results with
# a seq above results_base are laid over the snapshot's context. No index covers a column a
# checkpoint changes (patch, updated_at, lease_expires_at), and the table leaves room in its
# pages (fillfactor), so a checkpoint updates its run in place (a HOT update) and touches no
# index of the runs table.
#
# A result row has no foreign key to its run: checking one (a trigger per row) was a large
# share of a checkpoint's cost. A checkpoint inserts results only when its update of the run's
# row matched, in the same statement, so a result is never written for a run that is not
# stored; deleting a run deletes its results (the trigger below).
_RESULTS_COLUMNS = (
    f"CREATE TABLE {RESULTS} ("
    " workflow_id text NOT NULL,"
    " run_id text NOT NULL,"
    " seq bigint GENERATED ALWAYS AS IDENTITY,"
    " key text NOT NULL,"
    " result jsonb NOT NULL,"
    " written_at bigint NOT NULL,"
    " PRIMARY KEY (workflow_id, run_id, seq)"
)
_RESULTS_TABLE = _RESULTS_COLUMNS + ")"
# Version 1's table: the results of a run went with it through the foreign key.
_RESULTS_TABLE_V1 = (
    _RESULTS_COLUMNS + f", FOREIGN KEY (workflow_id, run_id) REFERENCES {RUNS} ON DELETE CASCADE)"
)
_RESULTS_FOREIGN_KEY = f"{RESULTS}_workflow_id_run_id_fkey"

# Deleting runs deletes their results, once per statement. The trigger's DELETE runs after the
# runs' rows are deleted and locked, with a snapshot of its own (read committed): it sees the
# results of a checkpoint that held a run's row when the delete reached it (the delete waited
# for it to commit), and a checkpoint that reaches a deleted row finds none and inserts
# nothing. TRUNCATE of the runs empties the results too.
_RESULTS_CLEANUP = (
    f"CREATE FUNCTION {RESULTS}_remove() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $$ BEGIN"
    f" DELETE FROM {RESULTS} r USING gone"
    " WHERE r.workflow_id = gone.workflow_id AND r.run_id = gone.run_id;"
    " RETURN NULL; END $$",
    f"CREATE FUNCTION {RESULTS}_clear() RETURNS trigger LANGUAGE plpgsql"
    f" SET search_path FROM CURRENT AS $$ BEGIN TRUNCATE {RESULTS}; RETURN NULL; END $$",
    f"CREATE TRIGGER {RESULTS}_remove AFTER DELETE ON {RUNS} REFERENCING OLD TABLE AS gone"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {RESULTS}_remove()",
    f"CREATE TRIGGER {RESULTS}_clear AFTER TRUNCATE ON {RUNS}"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {RESULTS}_clear()",
)

# The runs' primary key is made after the listing indexes. A statement that names one run
# (workflow_id = ? AND run_id = ?) could also use a listing index that starts with workflow_id,
# scanning all of the workflow's runs; while the table is new and has no statistics, the
# planner finds both equally cheap and takes the index made last. Made last, that is the key.
_PRIMARY_KEY = f"ALTER TABLE {RUNS} ADD PRIMARY KEY (workflow_id, run_id)"

# How many runs each workflow has in each status, kept by triggers in the same transaction as
# the runs themselves, so list_runs' total under a workflow or status filter is a sum of a few
# rows instead of a count over up to every run (an exact count, in the same snapshot as the
# page). Each connection adds to one of 8 slots of a (workflow, status) pair, so writers
# rarely wait on the same row; the rows of one change are locked in one order (no deadlock);
# a status that does not change (a checkpoint) fires nothing. Deletes are counted once per
# statement (retention deleting many runs updates each count once).
_COUNTS = (
    f"CREATE TABLE {COUNTS} ("
    " workflow_id text NOT NULL,"
    " status text NOT NULL,"
    " slot smallint NOT NULL,"
    " n bigint NOT NULL,"
    " PRIMARY KEY (workflow_id, status, slot))",
    f"CREATE FUNCTION {COUNTS}_add() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $$ BEGIN"
    f" INSERT INTO {COUNTS} AS c VALUES (NEW.workflow_id, NEW.status, pg_backend_pid() % 8, 1)"
    " ON CONFLICT (workflow_id, status, slot) DO UPDATE SET n = c.n + 1;"
    " RETURN NULL; END $$",
    f"CREATE FUNCTION {COUNTS}_move() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $$ BEGIN"
    f" INSERT INTO {COUNTS} AS c SELECT w, s, pg_backend_pid() % 8, d FROM (VALUES"
    " (OLD.workflow_id, OLD.status, -1), (NEW.workflow_id, NEW.status, 1)) AS v (w, s, d)"
    " ORDER BY w, s ON CONFLICT (workflow_id, status, slot) DO UPDATE SET n = c.n + excluded.n;"
    " RETURN NULL; END $$",
    f"CREATE FUNCTION {COUNTS}_remove() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $$ BEGIN"
    f" INSERT INTO {COUNTS} AS c SELECT workflow_id, status, pg_backend_pid() % 8, -count(*)"
    " FROM gone GROUP BY workflow_id, status ORDER BY workflow_id, status"
    " ON CONFLICT (workflow_id, status, slot) DO UPDATE SET n = c.n + excluded.n;"
    " RETURN NULL; END $$",
    f"CREATE FUNCTION {COUNTS}_clear() RETURNS trigger LANGUAGE plpgsql"
    f" SET search_path FROM CURRENT AS $$ BEGIN DELETE FROM {COUNTS}; RETURN NULL; END $$",
    f"CREATE TRIGGER {COUNTS}_add AFTER INSERT ON {RUNS}"
    f" FOR EACH ROW EXECUTE FUNCTION {COUNTS}_add()",
    f"CREATE TRIGGER {COUNTS}_move AFTER UPDATE OF status ON {RUNS}"
    " FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)"
    f" EXECUTE FUNCTION {COUNTS}_move()",
    f"CREATE TRIGGER {COUNTS}_remove AFTER DELETE ON {RUNS} REFERENCING OLD TABLE AS gone"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_remove()",
    f"CREATE TRIGGER {COUNTS}_clear AFTER TRUNCATE ON {RUNS}"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_clear()",
)

# Each run's event log (the chunks it emitted, numbered from 0), for readers replaying its
# stream from any process. Not tied to the runs table: a log may start before its run is stored.
_EVENTS_TABLE = (
    f"CREATE TABLE {EVENTS} ("
    " workflow_id text NOT NULL,"
    " run_id text NOT NULL,"
    " seq bigint NOT NULL,"
    " event jsonb NOT NULL,"
    " PRIMARY KEY (workflow_id, run_id, seq))"
)

CREATE: tuple[str, ...] = (
    f"CREATE TABLE {VERSION_TABLE} ("
    " version integer PRIMARY KEY,"
    " migrated_at timestamptz NOT NULL DEFAULT now())",
    f"CREATE TABLE {RUNS} ("
    " workflow_id text NOT NULL,"
    " run_id text NOT NULL,"
    " id bigint GENERATED ALWAYS AS IDENTITY,"
    " resource_id text,"
    " status text NOT NULL,"
    " snapshot jsonb NOT NULL,"
    " patch jsonb,"
    " results_base bigint NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " lease_owner text,"
    " lease_version bigint NOT NULL DEFAULT 0,"
    " lease_expires_at bigint NOT NULL DEFAULT 0,"
    " lease_host text,"
    " lease_pid integer,"
    " cancel_requested boolean NOT NULL DEFAULT false)"
    " WITH (fillfactor = 80)",
    *_INDEXES,
    _PRIMARY_KEY,
    _RESULTS_TABLE,
    *_RESULTS_CLEANUP,
    *_COUNTS,
    _EVENTS_TABLE,
)
"""The current layout, made in one step in a database that has no rxflow tables yet."""

# A stored text that is not JSON becomes a JSON string, which reads back as a damaged run
# (reported by list_runs) instead of failing the whole upgrade.
_AS_JSONB = (
    "CREATE OR REPLACE FUNCTION pg_temp.rxflow_as_jsonb(text) RETURNS jsonb LANGUAGE plpgsql AS $$"
    " BEGIN RETURN $1::jsonb; EXCEPTION WHEN others THEN RETURN to_jsonb($1); END $$"
)
_EPOCH_MS = "(floor(extract(epoch FROM {0}) * 1000))::bigint"

UPGRADES: tuple[Migration, ...] = (
    Migration(
        1,
        "snapshots as JSONB, timestamps in epoch milliseconds, leases, cancel requests,"
        " step result records, one index per list_runs filter, run counts, event logs",
        (
            f"ALTER TABLE {VERSION_TABLE} ADD PRIMARY KEY (version),"
            " ADD COLUMN migrated_at timestamptz NOT NULL DEFAULT now()",
            _AS_JSONB,
            f"DROP INDEX {RUNS}_by_created",
            f"ALTER TABLE {RUNS}"
            " ALTER COLUMN snapshot TYPE jsonb USING pg_temp.rxflow_as_jsonb(snapshot),"
            f" ALTER COLUMN created_at TYPE bigint USING {_EPOCH_MS.format('created_at')},"
            f" ALTER COLUMN updated_at TYPE bigint USING {_EPOCH_MS.format('updated_at')},"
            " ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,"
            " ADD COLUMN patch jsonb,"
            " ADD COLUMN results_base bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN lease_owner text,"
            " ADD COLUMN lease_version bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN lease_expires_at bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN lease_host text,"
            " ADD COLUMN lease_pid integer,"
            " ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false",
            f"ALTER TABLE {RUNS} SET (fillfactor = 80)",
            *_INDEXES,
            _RESULTS_TABLE_V1,
            *_COUNTS[:1],
            f"INSERT INTO {COUNTS} SELECT workflow_id, status, 0, count(*) FROM {RUNS}"
            " GROUP BY workflow_id, status",
            *_COUNTS[1:],
            _EVENTS_TABLE,
        ),
    ),
    Migration(
        2,
        "step results without a foreign key to their run (deleting runs deletes their"
        " results by a trigger); the runs' primary key made again after the listing indexes",
        (
            f"ALTER TABLE {RESULTS} DROP CONSTRAINT IF EXISTS {_RESULTS_FOREIGN_KEY}",
            *_RESULTS_CLEANUP,
            f"CREATE UNIQUE INDEX {RUNS}_key ON {RUNS} (workflow_id, run_id)",
            f"ALTER TABLE {RUNS} DROP CONSTRAINT {RUNS}_pkey,"
            f" ADD CONSTRAINT {RUNS}_pkey PRIMARY KEY USING INDEX {RUNS}_key",
        ),
    ),
)
"""The upgrade steps, in order; each brings the database to its ``version``."""


async def _stored_version(conn: AsyncConnection[Any]) -> int | None:
    """The schema version of the connection's schema; ``None`` when it has no rxflow tables."""
    # Read from pg_class under this statement's snapshot: a name lookup (to_regclass) may
    # still miss a table that the process migrating before us just committed.
    row = await _one(
        conn,
        "SELECT bool_or(relname = %s), bool_or(relname = %s) FROM pg_catalog.pg_class"
        " WHERE relnamespace = current_schema()::regnamespace AND relname IN (%s, %s)",
        (VERSION_TABLE, RUNS, VERSION_TABLE, RUNS),
    )
    has_versions, has_runs = (bool(row[0]), bool(row[1])) if row else (False, False)
    if not has_versions:
        if has_runs:
            raise StorageError(
                f"PostgreSQL storage: table {RUNS} exists but {VERSION_TABLE} does not, so its"
                " layout is unknown; move it aside or use another schema"
            )
        return None
    row = await _one(conn, f"SELECT MAX(version) FROM {VERSION_TABLE}")
    return None if row is None or row[0] is None else int(row[0])


async def _one(
    conn: AsyncConnection[Any], query: str, params: tuple[Any, ...] = ()
) -> tuple[Any, ...] | None:
    """The first row of a query, as a tuple whatever the connection's row factory."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


def _lock_key(schema: str) -> int:
    """The advisory lock that serialises migrations of one schema (a signed 64-bit key)."""
    digest = hashlib.sha256(f"rxflow-schema:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(conn: AsyncConnection[Any]) -> str:
    """Create the tables or upgrade them in the connection's current schema; returns the schema.

    The version is read first without a lock: a database already at :data:`SCHEMA_VERSION`
    costs one query. Otherwise the work happens in one transaction holding an advisory lock
    on the schema, and the version is read again under it, so of several processes starting
    at once exactly one creates or upgrades the tables and the others find them ready. A
    database written by a newer rxflow is refused.
    """
    row = await _one(conn, "SELECT current_schema()")
    if row is None or row[0] is None:
        raise StorageError(
            "PostgreSQL storage: the connection has no current schema (check search_path)"
        )
    schema = str(row[0])
    if await _stored_version(conn) == SCHEMA_VERSION:
        return schema
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        version = await _stored_version(conn)
        if version is None:
            await _run(conn, CREATE)
            await _record(conn, SCHEMA_VERSION)
        elif version > SCHEMA_VERSION:
            raise StorageError(
                f"PostgreSQL storage: schema {schema!r} was written by a newer rxflow (schema"
                f" version {version}); this one reads versions up to {SCHEMA_VERSION}"
            )
        else:
            for step in UPGRADES:
                if step.version > version:
                    await _run(conn, step.statements)
                    await _record(conn, step.version)
    return schema


async def _run(conn: AsyncConnection[Any], statements: tuple[str, ...]) -> None:
    # One round trip: without parameters the statements go as one simple query.
    await conn.execute(";\n".join(statements))


async def _record(conn: AsyncConnection[Any], version: int) -> None:
    await conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (version,))


def channel_of(schema: str) -> str:
    """The NOTIFY channel of the store in ``schema`` (at most 63 bytes, PostgreSQL's limit)."""
    channel = "rxflow" if schema == "public" else f"rxflow:{schema}"
    if len(channel.encode()) > 63:
        channel = "rxflow:" + hashlib.sha256(schema.encode()).hexdigest()[:40]
    return channel
