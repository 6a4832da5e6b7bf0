import asyncio
import time

from bot.ops.looplag import LoopLagMonitor, percentile
from bot.ops.metrics import Metrics


async def test_a_blocking_call_shows_up_as_lag() -> None:
    metrics = Metrics()
    monitor = LoopLagMonitor(metrics, interval_s=0.05)
    monitor.start()
    monitor.start()  # second start must not spawn a second task
    try:
        await asyncio.sleep(0.12)
        time.sleep(0.2)  # noqa: ASYNC251 -- blocking the loop is the point of this test
        await asyncio.sleep(0.15)
    finally:
        await monitor.stop()
        await monitor.stop()
    assert not monitor.running
    assert monitor.max >= 0.15
    assert monitor.p99 >= 0.15
    assert monitor.p50 < 0.15  # most samples were on an idle loop
    assert metrics.registry.get_sample_value("foley_event_loop_lag_seconds_count") == len(
        monitor.samples
    )
    summary = monitor.summary()
    assert summary["count"] == len(monitor.samples) and summary["max_s"] >= 0.15


async def test_stop_before_start_is_harmless() -> None:
    monitor = LoopLagMonitor()
    await monitor.stop()
    monitor.start()
    await asyncio.sleep(0)
    assert monitor.running
    await monitor.stop()


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile([], 99) == 0.0
