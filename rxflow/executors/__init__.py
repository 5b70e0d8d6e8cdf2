"""Executors: where step bodies run. ``LocalExecutor`` is the default; ``DaskExecutor`` (the
``rxflow[dask]`` extra) runs them on a Dask cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol import Executor, LocalExecutor

if TYPE_CHECKING:
    from .dask import DaskExecutor

__all__ = ["DaskExecutor", "Executor", "LocalExecutor"]


def __getattr__(name: str) -> Any:
    # Dask is an optional extra: imported only when DaskExecutor is asked for.
    if name == "DaskExecutor":
        from .dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
