"""Every command of ``rxflow``, registered on the group when imported."""

from __future__ import annotations

from . import graph_command, replay_command, run_commands, serve_command, store_commands

__all__ = ["graph_command", "replay_command", "run_commands", "serve_command", "store_commands"]
