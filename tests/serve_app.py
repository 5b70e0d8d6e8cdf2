"""What the ``rxflow serve`` tests serve: the server tests' workflows as a mapping, one workflow,
an app made by create_app, and ``hog``, whose first step blocks its process's event loop until
the test allows it to go on (so requests made meanwhile must be answered by another worker).

``RXFLOW_SERVE_TEST_DIR`` names the directory of the gate files: the hog step writes
``hogging`` (with its process id) when it starts blocking and goes on once ``go`` exists; its
second step waits until canceled and then writes ``cancelled``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from server_app import workflows

from rxflow import StepContext, create_step, create_workflow
from rxflow.server import create_app


def _dir() -> Path:
    return Path(os.environ.get("RXFLOW_SERVE_TEST_DIR", "."))


async def hog_body(ctx: StepContext) -> dict[str, int]:
    (_dir() / "hogging").write_text(str(os.getpid()))
    while not (_dir() / "go").exists():
        time.sleep(0.01)  # blocks this process's loop on purpose: no request is answered here
    return {"pid": os.getpid()}


async def wait_body(ctx: StepContext) -> dict[str, int]:
    try:
        await asyncio.sleep(120)
    except asyncio.CancelledError:
        (_dir() / "cancelled").write_text(str(os.getpid()))
        raise
    return ctx.input_data  # type: ignore[no-any-return]


hog = (
    create_workflow(id="hog", input_schema=dict)
    .then(create_step(id="hog", execute=hog_body))
    .then(create_step(id="wait", execute=wait_body))
    .commit()
)

flows: dict[str, Any] = {**workflows(), "hog": hog}

one = flows["demoWorkflow"]

app = create_app({"demoWorkflow": one}, auth_token="app-token")

not_a_workflow = 42
