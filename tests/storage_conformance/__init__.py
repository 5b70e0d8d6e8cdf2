"""The storage conformance suite: every ``Storage`` implementation passes the same tests.

Each test takes the ``case`` fixture (one per store, see ``cases.py``) or the ``store`` built
from it. A new store joins the suite by adding a ``StoreCase`` to ``CASES``: how to open it
(with a test clock and options), how to reach the same data from another process (``spec``,
read by ``worker.py``), and how to measure what it writes and keeps.
"""
