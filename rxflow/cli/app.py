"""The ``rxflow`` command: its group, the options every command shares, and ``main``, which
turns every way a command can end into an exit code (see ``exits``)."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from rich.console import Console

from .. import __version__
from ..errors import RxflowError
from .exits import ExitCode, UsageProblem
from .report import Outputs
from .stores import StoreChoice

__all__ = ["COMMAND_MODULES", "cli", "main", "outputs_for", "run_async", "store_options"]

F = TypeVar("F", bound=Callable[..., Any])

_HELP = """Run, follow and manage rxflow workflows.

Runs are stored in ./rxflow.db unless --db or --storage-url says otherwise.
Exit codes: 0 success, 1 failed, 2 usage error, 3 suspended, 4 canceled, 5 tripwire.
"""


# The module of each command, imported when that command runs (or for help): a command does
# not pay for importing the others' modules at every start.
COMMAND_MODULES = {
    "run": "run_commands",
    "resume": "run_commands",
    "restart": "run_commands",
    "replay": "replay_command",
    "runs": "store_commands",
    "show": "store_commands",
    "watch": "store_commands",
    "cancel": "store_commands",
    "graph": "graph_command",
    "serve": "serve_command",
}


class _CommandsOnDemand(click.Group):
    """A group whose commands register when their module is imported, on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"{__package__}.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_CommandsOnDemand,
    help=_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="rxflow")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def cli(debug: bool) -> None:
    pass


def store_options(command: F) -> F:
    """``--db``, ``--storage-url`` and ``--debug``, the options of every command."""
    command = click.option(
        "--storage-url",
        metavar="URL",
        envvar="RXFLOW_STORAGE_URL",
        help="Store runs here instead: postgresql://... or sqlite:///PATH.",
    )(command)
    command = click.option(
        "--db",
        metavar="PATH",
        envvar="RXFLOW_DB",
        help="The SQLite file runs are stored in (default ./rxflow.db).",
    )(command)
    return click.option("--debug", is_flag=True, help="Show tracebacks of errors.")(command)


def store_choice(db: str | None, storage_url: str | None) -> StoreChoice:
    return StoreChoice(db, storage_url)


def outputs_for(json_lines: bool = False) -> Outputs:
    """stdout and stderr as Rich consoles: colour only on a terminal, none with ``NO_COLOR``;
    off a terminal, plain text that does not wrap."""
    return Outputs(_console(sys.stdout), _console(sys.stderr), json=json_lines)


def _console(file: Any) -> Console:
    terminal = file.isatty()
    return Console(
        file=file,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
        width=None if terminal else 1000,
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def run_async(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; its exit code."""
    return asyncio.run(coroutine)


def main(argv: list[str] | None = None) -> None:
    """The console script: run the command line and exit with its code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("RXFLOW_DEBUG"))
    sys.exit(_main(args, debug))


def _main(args: list[str], debug: bool) -> int:
    try:
        code = cli.main(args=args, prog_name="rxflow", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except UsageProblem as problem:
        _complain(problem.message, problem, debug)
        if problem.hint:
            sys.stderr.write(problem.hint + "\n")
        return ExitCode.USAGE
    except RxflowError as error:
        _complain(f"{type(error).__name__}: {error}", error, debug)
        return ExitCode.FAILED
    except Exception as error:
        _complain(f"{type(error).__name__}: {error}", error, debug)
        return ExitCode.FAILED
    return int(code or 0)


def _complain(message: str, error: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    sys.stderr.write(f"rxflow: error: {message}\n")
