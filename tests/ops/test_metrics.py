import math

from bot.ops.metrics import Metrics

NAMES = [
    "foley_jobs_total",
    "foley_jobs_in_state",
    "foley_provider_request_seconds",
    "foley_provider_errors_total",
    "foley_tokens_spent_total",
    "foley_queue_depth",
    "foley_jobs_in_flight",
    "foley_event_loop_lag_seconds",
    "foley_event_loop_lag_last_seconds",
    "foley_discord_gateway_latency_seconds",
    "foley_breaker_state",
]


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_render_names_every_metric_even_before_any_sample() -> None:
    text = Metrics().render().decode()
    for name in NAMES:
        assert f"# TYPE {name}" in text or f"# HELP {name}" in text, name


def test_instances_do_not_share_a_registry() -> None:
    a, b = Metrics(), Metrics()
    a.tokens_spent("aimlapi", 10)
    assert value(a, "foley_tokens_spent_total", service="aimlapi") == 10
    assert value(b, "foley_tokens_spent_total", service="aimlapi") is None


def test_values_move_after_calls() -> None:
    m = Metrics()
    m.job_state("music", "delivered")
    m.job_state("music", "delivered")
    m.provider_error("elevenlabs", "rate_limited")
    m.observe_provider_call("aimlapi", "submit", 0.3)
    m.tokens_spent("aimlapi", 1500)
    m.tokens_spent("aimlapi", -5)  # refunds are not negative spend
    m.set_queue("aimlapi", depth=3, in_flight=2)
    m.set_gateway_latency(0.042)
    m.observe_loop_lag(0.02)
    m.set_breaker("elevenlabs", "open")

    assert value(m, "foley_jobs_total", kind="music", state="delivered") == 2
    assert value(m, "foley_provider_errors_total", service="elevenlabs", kind="rate_limited") == 1
    assert value(m, "foley_provider_request_seconds_count", service="aimlapi", op="submit") == 1
    assert value(m, "foley_provider_request_seconds_sum", service="aimlapi", op="submit") == 0.3
    assert value(m, "foley_tokens_spent_total", service="aimlapi") == 1500
    assert value(m, "foley_queue_depth", service="aimlapi") == 3
    assert value(m, "foley_jobs_in_flight", service="aimlapi") == 2
    assert value(m, "foley_discord_gateway_latency_seconds") == 0.042
    assert value(m, "foley_event_loop_lag_seconds_count") == 1
    assert value(m, "foley_event_loop_lag_last_seconds") == 0.02
    assert value(m, "foley_breaker_state", service="elevenlabs") == 2
    text = m.render().decode()
    assert 'foley_jobs_total{kind="music",state="delivered"} 2.0' in text


def test_jobs_in_state_drops_missing_states_to_zero() -> None:
    m = Metrics()
    m.set_jobs_in_state({"queued": 4, "running": 1})
    m.set_jobs_in_state({"running": 2})
    assert value(m, "foley_jobs_in_state", state="queued") == 0
    assert value(m, "foley_jobs_in_state", state="running") == 2


def test_breaker_gauge_can_follow_a_live_state() -> None:
    m = Metrics()
    state = {"now": "closed"}
    m.watch_breaker("aimlapi", lambda: state["now"])
    assert value(m, "foley_breaker_state", service="aimlapi") == 0
    state["now"] = "half_open"
    assert value(m, "foley_breaker_state", service="aimlapi") == 1


def test_gateway_latency_before_first_heartbeat_is_nan() -> None:
    m = Metrics()
    m.set_gateway_latency(math.inf)
    latency = value(m, "foley_discord_gateway_latency_seconds")
    assert latency is not None and math.isnan(latency)
