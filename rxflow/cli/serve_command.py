"""``rxflow serve MODULE:ATTR``: workflows on Mastra's HTTP routes, with uvicorn, in one process
or several sharing the storage."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import click
from click.core import ParameterSource

from .app import cli
from .exits import UsageProblem
from .serving import SETTINGS_VARIABLE, Served, ServeSettings, build_app, to_environment

__all__ = ["serve_command"]

DEFAULT_PORT = 4111  # Mastra's


@cli.command("serve")
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
    help="The port to listen on (0: any free port).",
)  # fmt: skip
@click.option(
    "--db",
    metavar="PATH",
    envvar="RXFLOW_DB",
    help="The SQLite file runs are stored in (default ./rxflow.db).",
)
@click.option(
    "--storage-url",
    metavar="URL",
    envvar="RXFLOW_STORAGE_URL",
    help="Store runs here instead: postgresql://... or sqlite:///PATH.",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on every request (default: $RXFLOW_API_TOKEN).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes sharing the port and the storage; any of them answers for any run.",
)
@click.option(
    "--no-ui", is_flag=True, help="Leave out the run viewer (the browser page at /); the API only."
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="uvicorn's log level (info logs every request).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def serve_command(target: str, **options: Any) -> int:
    """Serve the workflows of MODULE:ATTR over HTTP on Mastra's routes (@mastra/client-js).

    ATTR is a mapping of registry keys to workflows, one workflow, or an ASGI app made by
    rxflow.server.create_app (which keeps its own storage and token); MODULE alone serves
    every committed workflow defined in it. Runs are stored in ./rxflow.db unless --db or
    --storage-url says otherwise; with --workers N every worker builds the app from
    MODULE:ATTR and they share that store.
    """
    settings = ServeSettings(
        target,
        options["db"],
        options["storage_url"],
        options["token"] or None,
        False if options["no_ui"] else None,
    )
    served = build_app(settings)  # every usage problem shows here, before any worker starts
    if not served.workflow_ids:
        _refuse_options_for_an_app(target)
    listening = _listen(options["host"], options["port"])
    _announce(served, listening, options["workers"])
    try:
        _serve(served, settings, listening, options["workers"], options["log_level"])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down
        pass
    return 0


def _refuse_options_for_an_app(target: str) -> None:
    context = click.get_current_context()
    for name, option in (
        ("db", "--db"),
        ("storage_url", "--storage-url"),
        ("token", "--token"),
        ("no_ui", "--no-ui"),
    ):
        if context.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise UsageProblem(
                f"{option}: MODULE:ATTR {target!r} is an app made by create_app, which keeps "
                "its own storage, token and viewer (pass them to create_app); leave the option out"
            )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family=family)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        raise UsageProblem(f"--host {host} --port {port}: cannot listen there: {error}") from None
    listening.set_inheritable(True)
    return listening


def _announce(served: Served, listening: socket.socket, workers: int) -> None:
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if served.workflow_ids:
        what = f"workflows {', '.join(served.workflow_ids)}; runs stored in {served.store}"
    else:
        what = "the app's workflows"
    processes = f"; {workers} workers" if workers > 1 else ""
    print(f"rxflow serve: http://{shown}:{port}/api ({what}{processes})", flush=True)
    print("Ctrl-C stops the server.", file=sys.stderr, flush=True)


def _serve(
    served: Served, settings: ServeSettings, listening: socket.socket, workers: int, level: str
) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    common: dict[str, Any] = {"log_level": level, "access_log": level in ("info", "debug")}
    if workers == 1:
        config = uvicorn.Config(served.app, **common)
        uvicorn.Server(config).run(sockets=[listening])
        return
    # Worker processes are started afresh: each one builds its app from the settings.
    os.environ[SETTINGS_VARIABLE] = to_environment(settings)
    config = uvicorn.Config(
        "rxflow.cli.serving:worker_app", factory=True, workers=workers, **common
    )
    Multiprocess(config, sockets=[listening]).run()
