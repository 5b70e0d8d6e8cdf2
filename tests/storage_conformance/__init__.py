"""The storage conformance suite: every ``Storage`` implementation passes the same tests.

Each test takes the ``case`` fixture (one per store, see ``cases.py``) or the ``store`` built
from it. A new store joins the suite by adding a ``StoreCase`` to ``CASES`` in ``cases.py``: how to
open it (with a test clock and options), how to damage a run's stored data, how to measure
what it writes and keeps, and, for a store other processes can open (``shared``), the
``spec`` string that ``open_spec`` (used by ``worker.py``) turns back into the store.
"""
