"""``python -m rxflow``: the ``rxflow`` command line (needs the ``cli`` extra)."""

from __future__ import annotations

from rxflow.cli.app import main

if __name__ == "__main__":
    main()
