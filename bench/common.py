"""What every benchmark shares: timing, one printed row per figure, the machine's description."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> tuple[float, Any]:
    """The median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup``, and
    the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """The wall time of one call of ``fn()`` in seconds, and its result."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def row(name: str, ours: float, naive: float | None, unit: str, target: str = "") -> float | None:
    """Print one figure beside the naive one; returns naive / ours (how many times better)."""
    ratio = naive / ours if naive is not None and ours > 0 else None
    text = f"  {name:<44} ours {_fmt(ours)} {unit:<3}"
    if naive is not None:
        text += f"  naive {_fmt(naive)} {unit:<3}  ×{_fmt(ratio or 0)}"
    if target:
        text += f"  (target {target})"
    print(text, flush=True)
    return ratio


def heading(text: str) -> None:
    """A section heading."""
    print(f"\n== {text}", flush=True)


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def machine() -> str:
    """CPU model, cores, memory and Python, for the results table."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, "
        f"Python {sys.version.split()[0]}, {platform.system()} {platform.release()}"
    )
