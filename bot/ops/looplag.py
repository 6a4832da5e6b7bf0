"""Event-loop lag: how late the loop wakes a task that asked to sleep.

One owned task sleeps ``interval_s`` at a time and records ``actual − expected``
wake-up time. Anything that blocks the loop (sync file I/O, a CPU-bound hash,
``time.sleep``) shows up as lag, and every Discord interaction waiting behind it
is that much slower — which is why this is worth watching on a dashboard.

Samples go to :class:`~bot.ops.metrics.Metrics` and into a bounded window kept
here, so benchmarks can read p50/p99 without scraping Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque

from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0–100) of ``samples``; 0.0 when empty."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LoopLagMonitor:
    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        interval_s: float = 0.5,
        window: int = 1000,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.metrics = metrics
        self.interval_s = interval_s
        self._samples: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start measuring on the running loop; a second call while running does nothing."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="foley-loop-lag")
        self._task.add_done_callback(self._log_crash)

    async def stop(self) -> None:
        """Cancel the task and wait for it; safe to call twice or before ``start()``."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record(max(0.0, loop.time() - expected))

    def record(self, lag_s: float) -> None:
        self._samples.append(lag_s)
        if self.metrics is not None:
            self.metrics.observe_loop_lag(lag_s)

    @staticmethod
    def _log_crash(task: asyncio.Task[None]) -> None:
        # The loop body cannot normally fail; if it does, say so instead of
        # silently losing the metric.
        if not task.cancelled() and task.exception() is not None:
            log.error("event-loop lag monitor stopped", exc_info=task.exception())

    # -- reading ----------------------------------------------------------------------------
    @property
    def samples(self) -> list[float]:
        return list(self._samples)

    def reset(self) -> None:
        """Forget the window, e.g. between benchmark phases."""
        self._samples.clear()

    def percentile(self, p: float) -> float:
        return percentile(self.samples, p)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        return max(self._samples, default=0.0)

    def summary(self) -> dict[str, float]:
        samples = self.samples
        return {
            "count": float(len(samples)),
            "p50_s": percentile(samples, 50),
            "p99_s": percentile(samples, 99),
            "max_s": max(samples, default=0.0),
        }
