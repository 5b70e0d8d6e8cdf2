"""Exit codes of the ``rxflow`` command, and the error that ends a command with a usage message."""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "UsageProblem", "exit_code_for"]


class ExitCode(enum.IntEnum):
    """What the command's exit status says about the run (or the command line)."""

    SUCCESS = 0
    FAILED = 1
    USAGE = 2
    SUSPENDED = 3
    CANCELED = 4
    TRIPWIRE = 5
    PAUSED = 6  # a step-by-step run ran one entry: ``rxflow resume`` runs the next
    INTERRUPTED = 130  # a second Ctrl-C: left at once, the run as it was stored


_BY_STATUS = {
    "success": ExitCode.SUCCESS,
    "failed": ExitCode.FAILED,
    "suspended": ExitCode.SUSPENDED,
    "canceled": ExitCode.CANCELED,
    "tripwire": ExitCode.TRIPWIRE,
    "paused": ExitCode.PAUSED,
}


def exit_code_for(status: str) -> ExitCode:
    """The exit code of a run that ended with ``status`` (a status that is not an end fails)."""
    return _BY_STATUS.get(status, ExitCode.FAILED)


class UsageProblem(Exception):
    """A bad command line: the message names the argument and what is wrong with it.

    The command prints it (no traceback unless ``--debug``) and exits with code 2.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
