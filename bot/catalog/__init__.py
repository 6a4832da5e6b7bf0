"""The one catalog of what Foley can generate: services and music models.

Everything that needs a fact about a model (request building, both layers of
validation, prices, expected generation time, ``/music`` choices, ``/about``,
the ``generate`` CLI) reads it from here. Adding a music model is one
:class:`MusicModel` entry in :mod:`bot.catalog.music` plus, at most, a body
builder. Tests may :func:`register` an extra model in-process.
"""

from bot.catalog.registry import (
    all_models,
    by_model_id,
    choice_names,
    get,
    models_with,
    register,
    route_for,
)
from bot.catalog.services import (
    KIND_SERVICE,
    SERVICES,
    Service,
    display_name,
    key_variable,
    service_for,
)
from bot.catalog.types import (
    OPTIONS,
    MusicModel,
    Param,
    PriceRule,
    Route,
    Timing,
)

__all__ = [
    "KIND_SERVICE",
    "OPTIONS",
    "SERVICES",
    "MusicModel",
    "Param",
    "PriceRule",
    "Route",
    "Service",
    "Timing",
    "all_models",
    "by_model_id",
    "choice_names",
    "display_name",
    "get",
    "key_variable",
    "models_with",
    "register",
    "route_for",
    "service_for",
]
