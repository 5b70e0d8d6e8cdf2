"""Shared pieces of the benchmark variants: the step bodies, the event probe and
memory readings. No framework is imported here."""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time
from collections.abc import Callable
from typing import Any


async def step_body(x: int) -> int:
    """W1/W3/W4 step: no await, so the figures are pure framework overhead."""
    return x + 1


async def yielding_step_body(x: int) -> int:
    """W1s step: yields to the event loop once, like any real I/O-bound step."""
    await asyncio.sleep(0)
    return x + 1


async def item_body(i: int) -> int:
    """W2 per-item body: yields to the event loop once."""
    await asyncio.sleep(0)
    return i + 1


def chain_body(yielding: bool) -> Callable[[int], Any]:
    """The step body a chain workload asks for."""
    return yielding_step_body if yielding else step_body


class Probe:
    """Event sink handed to every variant's run function.

    A variant calls `start()` right before it starts the stream (for rxflow:
    just before `run.stream(...)`), then calls the probe with every event.
    The probe counts events and stamps the first event and, when the variant
    gives an `is_progress` predicate, the first progress event.
    """

    __slots__ = ("n", "t_start", "first_t", "first_progress_t", "_is_progress")

    def __init__(self, is_progress: Callable[[Any], bool] | None = None) -> None:
        self.n = 0
        self.t_start: float | None = None
        self.first_t: float | None = None
        self.first_progress_t: float | None = None
        self._is_progress = is_progress

    def start(self) -> None:
        self.t_start = time.perf_counter()

    def __call__(self, ev: Any) -> None:
        if self.n == 0:
            self.first_t = time.perf_counter()
        self.n += 1
        if (
            self._is_progress is not None
            and self.first_progress_t is None
            and self._is_progress(ev)
        ):
            self.first_progress_t = time.perf_counter()

    def first_event_s(self) -> float | None:
        """Seconds from `start()` to the first event."""
        if self.t_start is None or self.first_t is None:
            return None
        return self.first_t - self.t_start

    def first_progress_s(self) -> float | None:
        """Seconds from `start()` to the first progress event."""
        if self.t_start is None or self.first_progress_t is None:
            return None
        return self.first_progress_t - self.t_start


class End:
    """Sentinel closing a queue-bridged stream (optionally carrying an error)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _proc_status_mb(field: str) -> float | None:
    """A VmRSS/VmHWM reading from /proc/self/status in MiB (None off Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def rss_now_mb() -> float:
    """Current RSS of this process in MiB, after a full garbage collection."""
    gc.collect()
    now = _proc_status_mb("VmRSS")
    if now is None:
        import psutil

        now = float(psutil.Process().memory_info().rss) / 2**20
    return now


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux), so that
    `peak_rss_mb()` afterwards is the peak of what follows. Returns False when
    that is not possible; the peak then includes everything before."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS of this process in MiB (since the last `reset_peak_rss()`)."""
    peak = _proc_status_mb("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes vs KiB
    return peak
