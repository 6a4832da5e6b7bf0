"""What a generation costs, in Foley tokens and in dollars.

Formulas are written in *provider credits* (the unit each provider bills in)
and converted to tokens with the service's ``tokens_per_credit``, which is 1.0
by default: **one token is one provider credit**, so an estimate, the credits a
provider reports afterwards and the ledger all use the same numbers. Note that
credits of different services are worth different amounts of money (an AI/ML
API credit is $0.0000005, an ElevenLabs credit about $0.00003); an operator who
wants tokens to mean the same money everywhere sets ``tokens_per_credit``.

Defaults: each music route's rule in :mod:`bot.catalog`, the services' credit
prices there too, and the speech/effects rules below; every number is overridable with
``PRICING_FILE`` (JSON, or TOML when the name ends in ``.toml``)::

    [services.elevenlabs]
    usd_per_credit = 0.00003
    [models.aimlapi."elevenlabs/eleven_music"]
    credits = 12000          # per second of requested length

A model rule names the request parameter holding its units (``param``), the
divisor turning that parameter into units (``scale``: 1000 for milliseconds),
what to assume when the parameter is absent (``default``, in the parameter's
own unit) or a flat price instead (``flat``), and a ``minimum`` in units.
A rule with ``fixed = true`` is quoted exactly as written: calibration
(:mod:`bot.quotas.calibration`) never corrects it.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from bot import catalog
from bot.catalog import PriceRule
from bot.config import ConfigError, Settings
from bot.providers.base import GenerationRequest, JobKind

UNITS = ("step", "second", "character", "request")


class PricingError(ValueError):
    """No price is known for a model: refusing is safer than charging nothing."""


@dataclass(frozen=True)
class ServicePrice:
    usd_per_credit: float
    tokens_per_credit: float = 1.0


@dataclass(frozen=True)
class RuleQuote:
    """What the price rule alone says a request costs, and in which units."""

    service: str
    model: str  # the request's model (calibration learns per model, not per rule)
    unit: str  # the unit actually priced: ``rule.per``, or "request" for a flat price
    units: float  # after the rule's minimum; 1 for a flat or per-request price
    tokens: int  # rounded up: never under-reserve
    fixed: bool


def default_services() -> dict[str, ServicePrice]:
    """Every catalog service at its documented credit price, one token per credit."""
    return {name: ServicePrice(s.usd_per_credit) for name, s in catalog.SERVICES.items()}


# ElevenLabs speech and effects are keyed by job kind ("say", "sfx") because every
# TTS model bills characters and differs only by the multiplier the caller reads
# from GET /v1/models. Music rules come from the catalog, one per route.
KIND_RULES: dict[tuple[str, str], PriceRule] = {
    ("elevenlabs", "say"): PriceRule("character", 1.0, param="text"),
    # 40 credits per second with a duration; the automatic-length price is unconfirmed.
    ("elevenlabs", "sfx"): PriceRule("second", 40, param="duration_seconds", flat=200),
}


def default_rules() -> dict[tuple[str, str], PriceRule]:
    """Each catalog route's price rule, keyed by (service, provider model id), and the kinds'."""
    rules = {
        (route.service, route.model_id): route.price
        for model in catalog.all_models()
        for route in model.routes
    }
    return {**rules, **KIND_RULES}


@dataclass(frozen=True)
class Pricing:
    services: Mapping[str, ServicePrice]
    rules: Mapping[tuple[str, str], PriceRule]

    @classmethod
    def default(cls) -> Pricing:
        return cls(default_services(), default_rules())

    def rule_for(self, request: GenerationRequest) -> PriceRule:
        service = request.service
        rule = self.rules.get((service, request.model))
        if rule is None and request.kind in (JobKind.SAY, JobKind.SFX):
            rule = self.rules.get((service, str(request.kind)))
        if rule is None:
            raise PricingError(
                f"no price for {service} model {request.model!r}; add it to PRICING_FILE"
            )
        return rule

    def service(self, service: str) -> ServicePrice:
        try:
            return self.services[service]
        except KeyError:
            raise PricingError(f"no price for service {service!r}") from None

    def estimate(self, request: GenerationRequest, *, cost_multiplier: float = 1.0) -> int:
        """Tokens the price rule alone asks for (rounded up: never under-reserve)."""
        return self.rule_quote(request, cost_multiplier=cost_multiplier).tokens

    def rule_quote(self, request: GenerationRequest, *, cost_multiplier: float = 1.0) -> RuleQuote:
        rule = self.rule_for(request)
        unit, units, credits = _units_and_credits(rule, request.params)
        tokens = self.tokens(request.service, credits * cost_multiplier)
        return RuleQuote(request.service, request.model, unit, units, tokens, rule.fixed)

    def tokens(self, service: str, credits: float) -> int:
        return math.ceil(credits * self.service(service).tokens_per_credit - 1e-9)

    def actual_tokens(self, service: str, model: str, credits_reported: float) -> int:
        """Tokens for what the provider says it charged (``model`` is kept for per-model tweaks)."""
        del model  # every model of a service shares its credit unit today
        return self.tokens(service, max(0.0, credits_reported))

    def usd(self, service: str, tokens: int) -> float:
        price = self.service(service)
        return tokens / price.tokens_per_credit * price.usd_per_credit


def _units_and_credits(rule: PriceRule, params: Mapping[str, Any]) -> tuple[str, float, float]:
    raw = params.get(rule.param) if rule.param else None
    if rule.per == "request":
        return "request", 1.0, rule.credits
    if rule.per == "character":
        units = float(len(raw)) if isinstance(raw, str) else 0.0
    elif raw is not None:
        units = float(raw) / rule.scale
    elif rule.default is not None:
        units = rule.default / rule.scale
    elif rule.flat is not None:
        return "request", 1.0, rule.flat
    else:
        raise PricingError(f"the request has no {rule.param!r} and its price has no default")
    units = max(units, rule.minimum)
    return rule.per, units, units * rule.credits


# ---------------------------------------------------------------- PRICING_FILE


def load_pricing(settings: Settings) -> Pricing:
    """Defaults, overlaid with ``PRICING_FILE`` if set. Raises :class:`ConfigError` if bad."""
    if settings.pricing_file is None:
        return Pricing.default()
    return pricing_from_file(settings.pricing_file)


def pricing_from_file(path: Path) -> Pricing:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError("PRICING_FILE", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("PRICING_FILE", f"{path} is not valid {_fmt(path)}: {exc}") from None
    try:
        return overlay(Pricing.default(), data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError("PRICING_FILE", f"{path}: {exc}") from None


def _fmt(path: Path) -> str:
    return "TOML" if path.suffix.lower() == ".toml" else "JSON"


def overlay(base: Pricing, data: Any) -> Pricing:
    """Merge a parsed pricing document over ``base``, field by field."""
    if not isinstance(data, dict) or set(data) - {"services", "models"}:
        raise ValueError('expected a table with only "services" and "models"')
    services = dict(base.services)
    for name, values in _table(data, "services").items():
        current = services.get(name, ServicePrice(usd_per_credit=0.0))
        services[name] = _merge(current, values, f"services.{name}")
    rules = dict(base.rules)
    for service, models in _table(data, "models").items():
        if not isinstance(models, dict):
            raise ValueError(f"models.{service} must be a table of models")
        for model, values in models.items():
            where = f"models.{service}.{model}"
            current = rules.get((service, model))
            if current is None:
                if not isinstance(values, dict) or "per" not in values or "credits" not in values:
                    raise ValueError(f"{where}: a new model needs at least 'per' and 'credits'")
                current = PriceRule(per=values["per"], credits=values["credits"])
            rules[(service, model)] = _merge(current, values, where)
    return Pricing(services, rules)


_Merged = TypeVar("_Merged", ServicePrice, PriceRule)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a table")
    return value


def _merge(current: _Merged, values: Any, where: str) -> _Merged:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a table")
    known = {f.name for f in fields(current)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    merged = replace(current, **values)
    for f in fields(merged):
        value = getattr(merged, f.name)
        if f.name == "per":
            if value not in UNITS:
                raise ValueError(f"{where}.per must be one of {', '.join(UNITS)}")
        elif f.name == "param":
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{where}.param must be a string")
        elif f.name == "fixed":
            if not isinstance(value, bool):
                raise ValueError(f"{where}.fixed must be true or false, got {value!r}")
        elif value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise ValueError(f"{where}.{f.name} must be a number ≥ 0, got {value!r}")
    if isinstance(merged, ServicePrice) and merged.tokens_per_credit <= 0:
        raise ValueError(f"{where}.tokens_per_credit must be > 0")
    if isinstance(merged, PriceRule) and merged.scale <= 0:
        raise ValueError(f"{where}.scale must be > 0")
    return merged
