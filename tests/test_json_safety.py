"""JSON safety: what the converter makes JSON data of (and reads back where a schema says so),
``NotJSONError`` naming the path, ``register_conversion``, and the step boundary of a durable
run (a step whose output JSON cannot carry fails there; in memory values pass by reference)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import rxflow
from rxflow import (
    InMemoryStorage,
    NotJSONError,
    RxflowError,
    SQLiteStorage,
    StepContext,
    StorageError,
    ValidationError,
    create_step,
    create_workflow,
    register_conversion,
)
from rxflow.convert import conform, to_wire
from rxflow.events import CustomChunk, StepResultPayload, WorkflowStepResult

HERE = Path(__file__).parent
WORKER = HERE / "json_worker.py"
ADVICE = "is not JSON data; register a conversion or return plain data"


class Money:
    """A class nobody registers: never JSON data."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


class Color(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Mood(enum.StrEnum):
    CALM = "calm"


@attrs.define
class Item:
    name: str
    price: Decimal


@dataclasses.dataclass
class Parcel:
    weight: float
    sent: date


# --- what becomes JSON data ----------------------------------------------------------------------


def test_known_values_become_json_data() -> None:
    value = {
        "total": Decimal("19.990"),
        "at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2025, 1, 2),
        "clock": time(3, 4, 5),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "color": Color.RED,
        "size": Size.LARGE,
        "mood": Mood.CALM,
        "item": Item("pen", Decimal("0.10")),
        "parcel": Parcel(1.5, date(2025, 2, 1)),
        "pair": (1, 2),
        "tags": frozenset({"a"}),
    }
    wire = to_wire(value)
    assert wire == {
        "total": "19.990",  # a string keeps every digit
        "at": "2025-01-02T03:04:05+00:00",
        "day": "2025-01-02",
        "clock": "03:04:05",
        "id": "12345678-1234-5678-1234-567812345678",
        "color": "red",
        "size": 3,
        "mood": "calm",
        "item": {"name": "pen", "price": "0.10"},
        "parcel": {"weight": 1.5, "sent": "2025-02-01"},
        "pair": [1, 2],
        "tags": ["a"],
    }
    assert type(wire["size"]) is int and type(wire["mood"]) is str
    assert json.loads(json.dumps(wire, allow_nan=False)) == wire


def test_schemas_read_the_json_forms_back_into_their_types() -> None:
    @attrs.define
    class Order:
        total: Decimal
        at: datetime
        id: uuid.UUID
        color: Color
        item: Item
        parcel: Parcel

    order = Order(
        Decimal("19.99"),
        datetime(2025, 1, 2, tzinfo=UTC),
        uuid.UUID(int=7),
        Color.RED,
        Item("pen", Decimal("0.10")),
        Parcel(2.0, date(2025, 2, 1)),
    )
    assert conform(json.loads(json.dumps(to_wire(order))), Order) == order


@pytest.mark.parametrize(
    ("given", "expected"),
    [("19.99", Decimal("19.99")), (3, Decimal(3)), (0.1, Decimal("0.1"))],
)
def test_decimal_schema_reads_strings_and_numbers(given: Any, expected: Decimal) -> None:
    assert conform(given, Decimal) == expected


@pytest.mark.parametrize("given", ["abc", True, None, [1]])
def test_decimal_schema_refuses_what_is_no_number(given: Any) -> None:
    with pytest.raises(ValidationError) as info:
        conform(given, Decimal)
    assert info.value.errors == [f"$: expected Decimal (or decimal string), got {given!r}"]


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ({"total": Money(5)}, f"$.total: Money {ADVICE}"),
        ([1, {"a b": Money(5)}], f"$[1]['a b']: Money {ADVICE}"),
        ({"ratio": float("nan")}, "$.ratio: nan is not JSON data (JSON has no NaN or infinity)"),
        ([float("-inf")], "$[0]: -inf is not JSON data (JSON has no NaN or infinity)"),
        ({"raw": b"x"}, f"$.raw: bytes {ADVICE}"),
        ({"k": {(1, 2): 1}}, "$.k: the key (1, 2) is not a string; JSON keys are strings"),
        (Item("pen", Money(5)), f"$.price: Money {ADVICE}"),  # type: ignore[arg-type]
        (Parcel(1.0, Money(5)), f"$.sent: Money {ADVICE}"),  # type: ignore[arg-type]
        (Money(5), f"$: Money {ADVICE}"),
    ],
)
def test_what_json_cannot_carry_is_refused_naming_the_path(value: Any, line: str) -> None:
    with pytest.raises(NotJSONError) as info:
        to_wire(value)
    assert info.value.errors == [line]
    assert str(info.value) == line


def test_not_json_error_is_a_validation_error_exported_at_the_top() -> None:
    assert issubclass(NotJSONError, ValidationError)
    assert issubclass(NotJSONError, RxflowError)
    assert rxflow.errors.NotJSONError is NotJSONError
    error = NotJSONError("$.total", f"Money {ADVICE}", heading="output of step 'p'")
    assert (error.path, error.problem) == ("$.total", f"Money {ADVICE}")
    assert str(error) == f"output of step 'p'\n$.total: Money {ADVICE}"


def test_to_dict_of_an_event_carrying_an_unknown_object_names_the_path() -> None:
    event = WorkflowStepResult(
        run_id="r1",
        payload=StepResultPayload(
            id="price",
            step_name="price",
            step_call_id="c1",
            status="success",
            payload={},
            output={"total": Money(5)},
            started_at=1,
            ended_at=2,
        ),
    )
    with pytest.raises(NotJSONError) as info:
        event.to_dict()
    assert info.value.errors == [f"$.payload.output.total: Money {ADVICE}"]

    chunk = CustomChunk(type="data-quote", run_id="r1", data={"money": Money(5)})
    with pytest.raises(NotJSONError) as info:
        chunk.to_dict()
    assert info.value.errors == [f"$.data.money: Money {ADVICE}"]


# --- register_conversion -------------------------------------------------------------------------


class Euro:
    def __init__(self, amount: Decimal) -> None:
        self.amount = amount

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Euro) and other.amount == self.amount

    def __hash__(self) -> int:
        return hash(self.amount)


register_conversion(Euro, lambda e: {"eur": e.amount}, lambda d: Euro(Decimal(d["eur"])))


def test_a_registered_conversion_goes_both_ways() -> None:
    assert to_wire({"price": Euro(Decimal("2.50"))}) == {"price": {"eur": "2.50"}}
    assert conform({"eur": "2.50"}, Euro) == Euro(Decimal("2.50"))
    assert conform({"price": {"eur": "1"}}, dict[str, Euro]) == {"price": Euro(Decimal(1))}
    with pytest.raises(ValidationError) as info:
        conform({"price": {"usd": 1}}, dict[str, Euro])
    assert info.value.errors == ["$['price']: expected Euro, got {'usd': 1}"]


def test_a_conversion_without_from_json_only_writes() -> None:
    class Token:
        pass

    register_conversion(Token, lambda _: "tok")
    token = Token()
    assert to_wire([token]) == ["tok"]
    assert conform(token, Token) is token
    with pytest.raises(ValidationError):
        conform("tok", Token)


def test_register_conversion_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="needs a class"):
        register_conversion("Money", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs functions"):
        register_conversion(Money, "str")  # type: ignore[arg-type]


# --- the step boundary of a durable run ----------------------------------------------------------


def _three_steps(storage: Any, first: Any, calls: list[str], retries: int = 0) -> Any:
    async def after(ctx: StepContext) -> Any:
        calls.append("after")
        return ctx.input_data

    async def last(ctx: StepContext) -> Any:
        calls.append("last")
        return ctx.input_data

    return (
        create_workflow(id="shop", storage=storage)
        .then(create_step(id="price", execute=first, retries=retries))
        .then(create_step(id="after", execute=after))
        .then(create_step(id="last", execute=last))
        .commit()
    )


async def test_an_output_json_cannot_carry_fails_its_step_in_durable_mode(tmp_path: Path) -> None:
    calls: list[str] = []

    async def price(ctx: StepContext) -> Any:
        calls.append("price")
        return {"total": Money(1999)}

    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = _three_steps(storage, price, calls, retries=3)
    run = await wf.create_run(run_id="r1")
    output = run.stream(input_data={"n": 1})
    events = [chunk.to_dict() async for chunk in output]
    result = await output.result

    message = f"output of step 'price' cannot be stored\n$.total: Money {ADVICE}"
    assert calls == ["price"]  # not retried, and no later step ran
    assert result.status == "failed"
    assert isinstance(result.error, NotJSONError)
    assert str(result.error) == message
    assert result.error.path == "$.total"
    assert result.steps["price"].status == "failed"
    assert result.steps["price"].error is result.error
    assert list(result.steps) == ["price"]
    step_results = [e for e in events if e["type"] == "workflow-step-result"]
    assert [(e["payload"]["id"], e["payload"]["status"]) for e in step_results] == [
        ("price", "failed")
    ]
    assert step_results[0]["payload"]["error"] == {"message": message, "name": "NotJSONError"}

    record = await storage.get_run("shop", "r1")
    assert record is not None and record.status == "failed"
    assert record.snapshot is not None
    assert record.snapshot["context"]["price"]["error"] == {
        "message": message,
        "name": "NotJSONError",
    }
    assert set(record.snapshot["context"]) == {"input", "price"}
    await storage.close()


async def test_nan_and_bailed_values_are_checked_too(tmp_path: Path) -> None:
    calls: list[str] = []

    async def price(ctx: StepContext) -> Any:
        calls.append("price")
        return ctx.bail({"ratio": float("inf")})

    storage = SQLiteStorage(tmp_path / "runs.db")
    result = await (await _three_steps(storage, price, calls).create_run()).start()
    assert calls == ["price"]
    assert result.status == "failed"
    assert str(result.error) == (
        "output of step 'price' cannot be stored\n"
        "$.ratio: inf is not JSON data (JSON has no NaN or infinity)"
    )
    await storage.close()


async def test_a_foreach_item_json_cannot_carry_fails_the_foreach(tmp_path: Path) -> None:
    async def item(ctx: StepContext) -> Any:
        return {"n": ctx.input_data} if ctx.input_data != 2 else {"n": Money(2)}

    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = (
        create_workflow(id="items", storage=storage)
        .foreach(create_step(id="item", execute=item), concurrency=1)
        .commit()
    )
    result = await (await wf.create_run()).start(input_data=[0, 1, 2, 3])
    assert result.status == "failed"
    assert str(result.error) == f"output of step 'item' cannot be stored\n$.n: Money {ADVICE}"
    await storage.close()


async def test_a_registered_conversion_makes_the_step_pass(tmp_path: Path) -> None:
    calls: list[str] = []

    async def price(ctx: StepContext) -> Any:
        calls.append("price")
        return {"total": Euro(Decimal("19.99"))}

    storage = SQLiteStorage(tmp_path / "runs.db")
    run = await _three_steps(storage, price, calls).create_run(run_id="r1")
    result = await run.start()
    assert calls == ["price", "after", "last"]
    assert result.status == "success"
    assert result.result == {"total": Euro(Decimal("19.99"))}  # this process: the object
    stored = await storage.load_snapshot("shop", "r1")
    assert stored is not None
    assert stored["context"]["price"]["output"] == {"total": {"eur": "19.99"}}
    assert stored["result"] == {"total": {"eur": "19.99"}}
    await storage.close()


async def test_each_result_is_converted_once_for_the_step_check_and_every_snapshot(
    tmp_path: Path,
) -> None:
    class Tracked:
        pass

    conversions: list[str] = []

    def to_json(_: Tracked) -> str:
        conversions.append("tracked")
        return "tracked"

    register_conversion(Tracked, to_json)

    async def make(ctx: StepContext) -> Any:
        return {"t": Tracked()}

    async def done(ctx: StepContext) -> Any:
        await asyncio.sleep(0)  # let the snapshot writer run between the entries
        return {"done": True}

    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = (
        create_workflow(id="once", storage=storage)
        .then(create_step(id="make", execute=make))
        .then(create_step(id="next", execute=done))
        .then(create_step(id="last", execute=done))
        .commit()
    )
    result = await (await wf.create_run(run_id="r1")).start()
    assert result.status == "success"
    # Once as make's output, once as next's input; never again for the snapshots written.
    assert conversions == ["tracked", "tracked"]
    stored = await storage.load_snapshot("once", "r1")
    assert stored is not None
    assert stored["context"]["make"]["output"] == {"t": "tracked"}
    assert stored["context"]["next"]["payload"] == {"t": "tracked"}
    await storage.close()


async def test_in_memory_values_pass_by_reference_unchecked() -> None:
    calls: list[str] = []
    money = Money(1999)
    seen: list[Any] = []

    async def price(ctx: StepContext) -> Any:
        calls.append("price")
        return {"total": money}

    async def approve(ctx: StepContext) -> Any:
        seen.append(ctx.input_data["total"])
        if ctx.resume_data is None:
            return await ctx.suspend({"total": ctx.input_data["total"]})
        return ctx.input_data

    wf = (
        create_workflow(id="shop", storage=InMemoryStorage())
        .then(create_step(id="price", execute=price))
        .then(create_step(id="approve", execute=approve))
        .commit()
    )
    run = await wf.create_run()
    first = await run.start()
    assert first.status == "suspended"
    assert first.steps["price"].output["total"] is money
    result = await run.resume(resume_data={"ok": True})
    assert result.status == "success"
    assert result.result["total"] is money
    assert seen == [money, money]
    assert all(value is money for value in seen)


async def test_a_state_json_cannot_carry_fails_the_run_naming_it(tmp_path: Path) -> None:
    async def keep(ctx: StepContext) -> int:
        ctx.set_state({"wallet": Money(5)})
        return 1

    storage = SQLiteStorage(tmp_path / "runs.db")
    wf = create_workflow(id="st", storage=storage).then(create_step(id="keep", execute=keep))
    run = await wf.commit().create_run(run_id="r1")
    result = await run.start()
    assert result.status == "failed"
    assert isinstance(result.error, StorageError)
    assert str(result.error) == (
        f"snapshot of run 'r1' cannot be stored: the run state: $.wallet: Money {ADVICE}"
    )
    assert isinstance(result.error.__cause__, NotJSONError)
    record = await storage.get_run("st", "r1")
    assert record is not None and record.status == "failed"
    await storage.close()


async def test_resume_data_in_its_json_form_is_read_into_the_resume_schema(
    tmp_path: Path,
) -> None:
    @attrs.define
    class Approval:
        limit: Decimal
        until: datetime

    seen: list[Any] = []

    async def approve(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"ask": "limit?"})
        seen.append(ctx.resume_data)
        return {"limit": ctx.resume_data.limit}

    storage = SQLiteStorage(tmp_path / "runs.db")
    step = create_step(id="approve", execute=approve, resume_schema=Approval)
    wf = create_workflow(id="ok", storage=storage).then(step).commit()
    run = await wf.create_run(run_id="r1")
    assert (await run.start()).status == "suspended"
    again = await wf.create_run(run_id="r1")
    result = await again.resume(resume_data={"limit": "250.00", "until": "2025-05-01T00:00:00"})
    assert result.status == "success"
    assert seen == [Approval(Decimal("250.00"), datetime(2025, 5, 1))]
    stored = await storage.load_snapshot("ok", "r1")
    assert stored is not None
    assert stored["context"]["approve"]["output"] == {"limit": "250.00"}
    assert stored["context"]["approve"]["resumePayload"] == {
        "limit": "250.00",
        "until": "2025-05-01T00:00:00",
    }
    await storage.close()


# --- types come back in a fresh process ----------------------------------------------------------


def _worker(mode: str, db: Path, run_id: str) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, str(WORKER), mode, str(db), run_id],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    out: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return out


async def test_typed_values_are_stored_as_json_and_come_back_typed_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    assert _worker("start", db, "q1") == {"status": "suspended", "result": None}

    storage = SQLiteStorage(db)
    stored = await storage.load_snapshot("quotes", "q1")
    await storage.close()
    assert stored is not None
    assert stored["context"]["price"]["output"] == {
        "total": "19.99",
        "at": "2025-03-04T05:06:07+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "tier": "gold",
        "line": {"sku": "pen", "price": "0.10"},
        "shipping": {"carrier": "post", "on": "2025-03-09"},
    }
    assert stored["context"]["approve"]["suspendPayload"] == {"total": "19.99"}
    assert stored["value"] == {"running": "19.99"}

    resumed = _worker("resume", db, "q1")
    assert resumed == {
        "status": "success",
        "result": {
            "quote": "Quote",
            "total": "Decimal",
            "at": "datetime",
            "id": "UUID",
            "tier": "Tier",
            "line": "Line",
            "line.price": "Decimal",
            "shipping": "Shipping",
            "shipping.on": "date",
            "state.running": "Decimal",
            "equal": "True",
        },
    }


def test_a_timedelta_is_no_json_data_until_registered() -> None:
    with pytest.raises(NotJSONError) as info:
        to_wire({"wait": timedelta(seconds=5)})
    assert info.value.errors == [f"$.wait: timedelta {ADVICE}"]
