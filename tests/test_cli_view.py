"""The live view in-process: ``rxflow.progress.show``, the run tree it keeps, throttled
redraws; and the library itself never importing the command line's packages."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from typing import Any

import pytest
from _cli import ROOT
from cli_fixtures import flows
from rich.console import Console

import rxflow.progress
from rxflow import create_step, create_workflow
from rxflow.cli import live
from rxflow.cli.tree import RunTree
from rxflow.cli.workflows import tree_for


def test_importing_rxflow_loads_neither_click_nor_rich() -> None:
    code = (
        "import sys, rxflow, rxflow.events, rxflow.storage, rxflow.operators\n"
        "loaded = {'click', 'rich', 'rxflow.cli', 'rxflow.progress'} & set(sys.modules)\n"
        "print(sorted(loaded))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr


async def test_show_off_a_terminal_prints_plain_lines() -> None:
    console = Console(file=io.StringIO(), width=100)
    run = await flows.greet.create_run()
    result = await rxflow.progress.show(
        run.stream(input_data={"name": "ada"}), console=console, workflow=flows.greet
    )
    assert result.status == "success"
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == f"run {run.run_id} of workflow greet: running"
    assert lines[1:3] == ["greet: running", "greet> greeting ada"]
    assert lines[3].startswith("greet: success (")
    assert "\x1b" not in console.file.getvalue()  # type: ignore[attr-defined]


async def test_live_view_redraws_are_throttled(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = 0
    draw = live.frame

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal frames
        frames += 1
        return draw(*args, **kwargs)

    monkeypatch.setattr(live, "frame", counted)

    async def item(ctx: Any) -> int:
        await asyncio.sleep(0.0005)
        return int(ctx.input_data)

    wf = (
        create_workflow(id="many")
        .foreach(create_step(id="item", execute=item), concurrency=4)
        .commit()
    )
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await rxflow.progress.show(
        (await wf.create_run()).stream(input_data=list(range(2000))),
        console=console,
        refresh_per_second=8,
    )
    took = loop.time() - began
    assert result.status == "success" and len(result.result) == 2000
    assert frames <= took * 8 + 3, (frames, took)  # 2,000 progress events, a few redraws
    assert "2000/2000" in console.file.getvalue()  # type: ignore[attr-defined]


async def test_tree_follows_a_run_of_every_entry_kind() -> None:
    tree = tree_for(flows.small)
    run = await flows.small.create_run()
    async for chunk in run.stream(input_data=[1, 2]):
        tree.apply(chunk)
    statuses = {key: node.status for key, node in tree.by_key.items()}
    assert statuses == {
        "load": "success",
        "a": "success",
        "b": "success",
        "big": "skipped",
        "tiny": "success",
        "again": "success",
        "inner": "success",
        "inner.clean": "success",
        "pause": "success",
        "items": "success",
        "each": "success",
    }
    assert tree.status == "success"
    assert [tree.status_of(node) for node in tree.roots[1:3]] == ["success", "success"]
    assert tree.by_key["load"].retries == 2
    assert tree.by_key["again"].iteration == 1
    each = tree.by_key["each"]
    assert (each.completed, each.total, each.failures) == (2, 2, 0)


async def test_tree_without_a_graph_grows_from_the_events() -> None:
    tree = RunTree(None, "greet")
    run = await flows.greet.create_run()
    async for chunk in run.stream(input_data={"name": "x"}):
        tree.apply(chunk)
    assert [(n.key, n.status) for n in tree.roots] == [("greet", "success"), ("shout", "success")]


def _drawn(tree: RunTree) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None, force_terminal=True)
    console.print(live.frame(tree))
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


async def test_retries_are_counted_as_they_happen() -> None:
    console = Console(file=io.StringIO(), width=100)
    run = await flows.flaky.create_run()
    result = await rxflow.progress.show(
        run.stream(input_data={}), console=console, workflow=flows.flaky, run=run
    )
    assert result.status == "success" and result.result == {"a": "xy", "attempts": 3}
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[1] == "load: running"
    assert re.fullmatch(r"load: success \(\d+ ms, 2 retries\)", lines[2]), lines

    tree = tree_for(flows.flaky)
    run = await flows.flaky.create_run()
    stop = run.watch_retries(lambda step_id, retry: tree.retry(step_id))
    async for chunk in run.stream(input_data={}):
        tree.apply(chunk)
    stop()
    assert tree.by_key["load"].retried == 2
    assert re.search(r"✓ load  \d+ ms  retries 2/3\n", _drawn(tree))


async def _pulled(ctx: Any) -> list[int]:
    return list(range(6))


async def _item(ctx: Any) -> int:
    await asyncio.sleep(0.01)  # the foreach takes time: a rate and an ETA to show
    await ctx.writer.write(f"item {ctx.input_data} written")
    if ctx.input_data == 3:
        raise ValueError("item 3 is bad")
    return int(ctx.input_data)


async def test_every_element_of_the_live_view() -> None:
    """Steps, parallel and branch blocks, a loop with its iteration, a nested workflow, status
    symbols, durations, retries; a running foreach's bar with done/total, rate, ETA and
    failures; the writer output of running steps."""
    wf = (
        create_workflow(id="showcase")
        .then(create_step(id="load", execute=flows.flaky_body, retries=3))
        .parallel(
            [create_step(id="a", execute=flows._same), create_step(id="b", execute=flows._same)]
        )
        .branch(
            [
                (flows.is_big, create_step(id="big", execute=flows._same)),
                (flows.is_small, create_step(id="tiny", execute=flows._same)),
            ]
        )
        .dountil(create_step(id="again", execute=flows._same), lambda ctx: ctx.iteration_count >= 2)
        .then(flows.inner)
        .then(create_step(id="pull", execute=_pulled))
        .foreach(create_step(id="each", execute=_item), concurrency=2)
        .commit()
    )
    tree = tree_for(wf)
    run = await wf.create_run()
    run.watch_retries(lambda step_id, retry: tree.retry(step_id))
    before = _drawn(tree)
    assert before.splitlines()[1:3] == ["├── ○ load", "├── ○ parallel"]  # pending, listed
    mid_run = ""
    async for chunk in run.stream(input_data={}):
        tree.apply(chunk)
        if chunk.type == "workflow-step-progress" and chunk.payload.iteration_status == "failed":
            mid_run = _drawn(tree)
    running = next(line for line in mid_run.splitlines() if "each" in line)
    assert running.startswith("└── ▶ each (foreach, concurrency 2)  "), running
    assert re.search(r"\d+ ms ━+─* [3-5]/6 [\d.,]+/s  ETA \d+:\d\d 1 failed$", running), running
    assert "    └── › item 3 written" in mid_run  # the running foreach's latest writes
    assert re.match(r"▶ showcase  run \S+  running  \d+ ms", mid_run)

    end = _drawn(tree).splitlines()
    assert re.fullmatch(r"✗ showcase  run \S+  failed  \d+ ms", end[0])
    shapes = [re.sub(r"\d+ ms", "N ms", line) for line in end[1:]]
    assert shapes[:11] == [
        "├── ✓ load  N ms  retries 2/3",
        "├── ✓ parallel",
        "│   ├── ✓ a  N ms",
        "│   └── ✓ b  N ms",
        "├── ✓ branch",
        "│   ├── – big",
        "│   └── ✓ tiny  N ms",
        "├── ✓ again (dountil)  iteration 2  N ms",
        "├── ✓ inner (workflow)  N ms",
        "│   └── ✓ clean  N ms",
        "├── ✓ pull  N ms",
    ]
    assert re.fullmatch(
        r"└── ✗ each \(foreach, concurrency 2\)  N ms  ValueError: item 3 is bad "
        r"━+─* \d/6  1 failed",
        shapes[11],
    )


def test_a_command_imports_its_own_module_only() -> None:
    code = (
        "import sys\n"
        "from rxflow.cli.app import cli\n"
        "assert cli.get_command(None, 'run').name == 'run'\n"
        "print(sorted(m for m in sys.modules if m.startswith('rxflow.cli.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    loaded = done.stdout.strip()
    assert "rxflow.cli.run_commands" in loaded, done.stderr
    for other in ("serve_command", "store_commands", "graph_command", "replay_command"):
        assert f"rxflow.cli.{other}" not in loaded


def test_every_command_is_found_by_its_name() -> None:
    from rxflow.cli import commands  # noqa: F401  (imports every command's module)
    from rxflow.cli.app import COMMAND_MODULES, cli

    assert sorted(cli.commands) == sorted(COMMAND_MODULES)
    for name, module in COMMAND_MODULES.items():
        assert cli.commands[name].callback.__module__ == f"rxflow.cli.{module}"  # type: ignore[union-attr]
