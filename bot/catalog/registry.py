"""Lookups over the music models, and in-process registration (tests only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bot.catalog.music import BUILT_IN
from bot.catalog.types import MusicModel, Route

_MODELS: dict[str, MusicModel] = {m.name: m for m in BUILT_IN}


def all_models() -> tuple[MusicModel, ...]:
    return tuple(_MODELS.values())


def choice_names() -> tuple[str, ...]:
    return tuple(_MODELS)


def get(name: str) -> MusicModel | None:
    return _MODELS.get(name)


def by_model_id(model_id: str) -> tuple[MusicModel, Route] | None:
    """The model and route a provider model id belongs to."""
    for model in _MODELS.values():
        for route in model.routes:
            if route.model_id == model_id:
                return model, route
    return None


def route_for(model_id: str) -> Route | None:
    found = by_model_id(model_id)
    return found[1] if found else None


def models_with(option: str) -> tuple[str, ...]:
    """Public names of the models that take ``option`` (for refusals)."""
    return tuple(m.name for m in _MODELS.values() if option in m.options)


@contextlib.contextmanager
def register(model: MusicModel) -> Iterator[MusicModel]:
    """Add a model for the duration of a ``with`` block (in-process tests, never a setting)."""
    if model.name in _MODELS:
        raise ValueError(f"a model called {model.name!r} is already in the catalog")
    _MODELS[model.name] = model
    try:
        yield model
    finally:
        del _MODELS[model.name]
