"""``rxflow graph``: a workflow's entries as a tree, and as Mermaid text, exactly."""

from __future__ import annotations

from pathlib import Path

from _cli import rxflow

TREE = """\
workflow small
├── load retries 2
├── parallel
│   ├── a
│   └── b
├── branch
│   ├── big
│   └── tiny
├── again (dountil)
├── inner (workflow)
│   └── clean
├── pause (sleep, 5 ms)
├── items (map)
└── each (foreach, concurrency 4)
"""

MERMAID = """\
flowchart TD
  start(["small"])
  load["load"]
  start --> load
  a["a"]
  load --> a
  b["b"]
  load --> b
  big["big"]
  a -->|is_big| big
  b -->|is_big| big
  tiny["tiny"]
  a -->|is_small| tiny
  b -->|is_small| tiny
  again["again"]
  big --> again
  tiny --> again
  again -->|dountil| again
  subgraph inner["inner (workflow)"]
    inner_start(( ))
    inner_clean["clean"]
    inner_start --> inner_clean
  end
  again --> inner
  pause(["pause: sleep 5 ms"])
  inner --> pause
  items[/"items"/]
  pause --> items
  each[["each (foreach)"]]
  items --> each
  finish([end])
  each --> finish
"""


def test_graph_as_a_tree(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "graph", "cli_fixtures.flows:small")
    assert done.returncode == 0, done.stderr
    assert done.stdout == TREE


def test_graph_as_mermaid(tmp_path: Path) -> None:
    done = rxflow(tmp_path, "graph", "cli_fixtures.flows:small", "--mermaid")
    assert done.returncode == 0, done.stderr
    assert done.stdout == MERMAID


def test_graph_of_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text(
        "from rxflow import create_step, create_workflow\n"
        "wf = create_workflow(id='one').then(create_step(id='end', execute=lambda c: 1)).commit()\n"
    )
    done = rxflow(tmp_path, "graph", "one.py:wf", "--mermaid")
    assert done.returncode == 0, done.stderr
    # a step named like a Mermaid keyword gets an id of its own
    assert '  end_["end"]\n  start --> end_\n' in done.stdout
