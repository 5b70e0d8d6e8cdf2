"""Workflows the command line tests run through ``rxflow`` in subprocesses and in tmux."""
