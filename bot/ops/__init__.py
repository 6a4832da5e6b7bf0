"""Operations: health endpoint, Prometheus metrics, event-loop lag.

Nothing here imports discord; the composition root injects what the checks need.
"""

from bot.ops.health import HealthChecks, HealthServer, HealthServerError, maybe_health_server
from bot.ops.looplag import LoopLagMonitor
from bot.ops.metrics import Metrics

__all__ = [
    "HealthChecks",
    "HealthServer",
    "HealthServerError",
    "LoopLagMonitor",
    "Metrics",
    "maybe_health_server",
]
