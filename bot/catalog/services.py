"""The services Foley talks to, and which one serves each kind of job."""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.base import JobKind


@dataclass(frozen=True)
class Service:
    name: str  # "aimlapi": the key used in prices, breakers, the ledger
    display: str  # what members and operators read
    key_variable: str  # the environment variable that enables it
    usd_per_credit: float  # the default price of one provider credit
    concurrency_setting: str  # the Settings field holding its concurrency pool size


SERVICES: dict[str, Service] = {
    # AI/ML API FAQ: $1 = 2,000,000 credits.
    "aimlapi": Service(
        "aimlapi", "AI/ML API", "AIMLAPI_API_KEY", 1 / 2_000_000, "aimlapi_max_concurrency"
    ),
    # ElevenLabs: Creator overage, $0.30 per 1,000 credits.
    "elevenlabs": Service(
        "elevenlabs", "ElevenLabs", "ELEVENLABS_API_KEY", 0.00003, "elevenlabs_max_concurrency"
    ),
}

# The default service of each kind; a music model whose route runs elsewhere says so.
KIND_SERVICE: dict[JobKind, str] = {
    JobKind.MUSIC: "aimlapi",
    JobKind.SAY: "elevenlabs",
    JobKind.SFX: "elevenlabs",
}


def display_name(service: str) -> str:
    found = SERVICES.get(service)
    return found.display if found else service


def key_variable(service: str) -> str:
    return SERVICES[service].key_variable


def service_for(kind: JobKind, model: str) -> str:
    """The service a request goes to: the music model's route, else the kind's service."""
    if kind is JobKind.MUSIC:
        from bot.catalog.registry import by_model_id  # the registry imports this module

        found = by_model_id(model)
        if found is not None:
            return found[1].service
    return KIND_SERVICE[kind]
