"""A run of a workflow: ``Run`` and its verbs (``verbs``), each stretch of its execution
(``segment``) and what it runs (``executions``), its event bus (``bus``) and the options its
verbs take (``options``)."""

from __future__ import annotations

from .verbs import Run

__all__ = ["Run"]
