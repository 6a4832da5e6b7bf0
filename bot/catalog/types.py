"""The shapes of catalog entries: a model, its routes, their parameters, prices and timing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Every /music option besides ``prompt`` and ``model`` (public contract names).
OPTIONS = ("duration", "steps", "start", "lyrics", "instrumental", "negative", "seed", "reference")

Params = dict[str, Any]


@dataclass(frozen=True)
class PriceRule:
    """How a request is priced, in provider credits (see :mod:`bot.quotas.pricing`)."""

    per: str  # "step" | "second" | "character" | "request"
    credits: float  # provider credits per unit
    param: str | None = None
    scale: float = 1.0
    default: float | None = None
    flat: float | None = None  # credits when ``param`` is absent and there is no default
    minimum: float = 0.0  # in units
    fixed: bool = False  # never recalibrated from what the provider reports


@dataclass(frozen=True)
class Param:
    """One member-facing option and the provider field it becomes."""

    option: str  # the /music option ("duration") or "prompt"
    field: str  # the provider's request field ("music_length_ms")
    type: type  # int, str or bool
    lo: float | None = None  # numbers: the range; strings: the length in characters
    hi: float | None = None
    default: Any = None  # the provider's default when the option is not given (not sent)
    required: bool = False
    scale: float = 1.0  # provider value = option value × scale (seconds → milliseconds)
    unit: str = ""  # " seconds" in messages


@dataclass(frozen=True)
class Timing:
    """Expected generation time: ``base_s + per_second_s × length + per_step_s × steps``."""

    base_s: float
    per_second_s: float = 0.0
    per_step_s: float = 0.0
    length_s: float = 30.0  # the output length assumed when the request does not set one
    steps: float = 0.0  # the steps assumed when the request does not set them


@dataclass(frozen=True)
class Route:
    """One way of running a model: a service, its model id, what it takes and costs."""

    service: str
    model_id: str
    params: tuple[Param, ...]
    price: PriceRule
    timing: Timing
    output: str  # container the route returns: "wav" | "mp3"
    # Provider fields always sent (besides the member's), e.g. an output setting.
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def param(self, option: str) -> Param | None:
        return next((p for p in self.params if p.option == option), None)

    @property
    def options(self) -> frozenset[str]:
        return frozenset(p.option for p in self.params if p.option != "prompt")

    @property
    def pool(self) -> str:
        """The concurrency pool the job waits in (the service's)."""
        return self.service

    def length_s(self, params: Mapping[str, Any]) -> float:
        """The output length a request asks for (or the model's usual one)."""
        p = self.param("duration")
        if p is not None:
            raw = params.get(p.field, p.default)
            if raw is not None:
                return float(raw) / p.scale
        return self.timing.length_s

    def expected_seconds(self, params: Mapping[str, Any]) -> float:
        """How long the provider is expected to take for these request parameters."""
        t = self.timing
        steps = params.get("steps") if self.param("steps") else None
        steps = float(steps) if steps is not None else t.steps
        return t.base_s + t.per_second_s * self.length_s(params) + t.per_step_s * steps


@dataclass(frozen=True)
class MusicModel:
    """One ``/music`` model: its public name, what members read, its route(s)."""

    name: str  # the /music ``model`` choice value (public contract)
    display: str
    summary: str  # one line for /about and the README
    routes: tuple[Route, ...]
    # Extra checks or fields after the generic ones: (route, provider params) → params.
    finish: Callable[[Route, Params], Params] | None = None
    # The Settings field choosing among several routes ("aimlapi" | "elevenlabs" | "auto").
    route_setting: str | None = None

    @property
    def route(self) -> Route:
        """The first (preferred) route."""
        return self.routes[0]

    @property
    def options(self) -> frozenset[str]:
        """Options at least one route takes."""
        return frozenset().union(*(r.options for r in self.routes))

    def expected_seconds(self, params: Mapping[str, Any]) -> float:
        return self.route.expected_seconds(params)

    def duration_range(self) -> tuple[float, float, float] | None:
        """(min, max, default) seconds over the routes, or None when the model picks."""
        ps = [p for r in self.routes if (p := r.param("duration")) is not None]
        if not ps:
            return None
        lo = min(float(p.lo or 0) for p in ps)
        hi = max(float(p.hi or 0) for p in ps)
        return lo, hi, float(ps[0].default / ps[0].scale if ps[0].default else lo)
