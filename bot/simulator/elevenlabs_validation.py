"""Request validation shaped like ElevenLabs' FastAPI/pydantic 422 replies.

Each problem becomes ``{"loc": [...], "msg": ..., "type": ...}`` with pydantic v2
wording, so a client's error-parsing code is exercised with realistic bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .audio_store import AudioSpec

Error = dict[str, Any]
Loc = tuple[str | int, ...]


def error(loc: Loc, msg: str, type_: str) -> Error:
    return {"loc": list(loc), "msg": msg, "type": type_}


class Checker:
    """Collects every validation error of one body instead of stopping at the first."""

    def __init__(self, body: dict[str, Any], loc: Loc = ("body",)) -> None:
        self.body = body
        self.loc = loc
        self.errors: list[Error] = []

    def _get(self, name: str, required: bool) -> tuple[bool, Any]:
        if name not in self.body:
            if required:
                self.errors.append(error((*self.loc, name), "Field required", "missing"))
            return False, None
        return True, self.body[name]

    def string(self, name: str, *, required: bool = False, min_len: int = 0) -> str | None:
        present, value = self._get(name, required)
        if not present or (value is None and not required):
            return None
        if not isinstance(value, str):
            self.errors.append(
                error((*self.loc, name), "Input should be a valid string", "string_type")
            )
            return None
        if len(value.strip()) < min_len:
            self.errors.append(
                error(
                    (*self.loc, name),
                    f"String should have at least {min_len} character",
                    "string_too_short",
                )
            )
            return None
        return value

    def number(
        self, name: str, lo: float | None = None, hi: float | None = None, *, integer: bool = False
    ) -> float | None:
        present, value = self._get(name, False)
        if not present or value is None:
            return None
        loc = (*self.loc, name)
        bad_int = integer and isinstance(value, float) and not value.is_integer()
        if isinstance(value, bool) or not isinstance(value, int | float) or bad_int:
            kind = (
                ("Input should be a valid integer", "int_type")
                if integer
                else ("Input should be a valid number", "float_type")
            )
            self.errors.append(error(loc, *kind))
            return None
        if lo is not None and value < lo:
            self.errors.append(
                error(loc, f"Input should be greater than or equal to {lo}", "greater_than_equal")
            )
            return None
        if hi is not None and value > hi:
            self.errors.append(
                error(loc, f"Input should be less than or equal to {hi}", "less_than_equal")
            )
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        present, value = self._get(name, False)
        if not present or value is None:
            return None
        if not isinstance(value, bool):
            self.errors.append(
                error((*self.loc, name), "Input should be a valid boolean", "bool_type")
            )
            return None
        return value

    def enum(self, name: str, options: tuple[str, ...]) -> str | None:
        present, value = self._get(name, False)
        if not present or value is None:
            return None
        if value not in options:
            quoted = [f"'{o}'" for o in options]
            listed = ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
            self.errors.append(error((*self.loc, name), f"Input should be {listed}", "enum"))
            return None
        return value

    def items(self, name: str, max_items: int) -> list[Any] | None:
        """A list field (``null`` allowed) of at most ``max_items`` entries."""
        present, value = self._get(name, False)
        if not present or value is None:
            return None
        loc = (*self.loc, name)
        if not isinstance(value, list):
            self.errors.append(error(loc, "Input should be a valid list", "list_type"))
            return None
        if len(value) > max_items:
            self.errors.append(
                error(
                    loc,
                    f"List should have at most {max_items} items after validation, "
                    f"not {len(value)}",
                    "too_long",
                )
            )
            return None
        return value

    def strings(self, name: str, max_items: int) -> list[str] | None:
        values = self.items(name, max_items)
        if values is None:
            return None
        for i, value in enumerate(values):
            if not isinstance(value, str):
                self.errors.append(
                    error((*self.loc, name, i), "Input should be a valid string", "string_type")
                )
        return [v for v in values if isinstance(v, str)]

    def objects(self, name: str, max_items: int) -> list[Checker] | None:
        values = self.items(name, max_items)
        if values is None:
            return None
        children = []
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                self.errors.append(
                    error(
                        (*self.loc, name, i),
                        "Input should be a valid dictionary or object to extract fields from",
                        "model_attributes_type",
                    )
                )
                continue
            child = Checker(value, (*self.loc, name, i))
            child.errors = self.errors
            children.append(child)
        return children

    def obj(self, name: str) -> Checker | None:
        present, value = self._get(name, False)
        if not present or value is None:
            return None
        if not isinstance(value, dict):
            self.errors.append(
                error(
                    (*self.loc, name),
                    "Input should be a valid dictionary or object to extract fields from",
                    "model_attributes_type",
                )
            )
            return None
        child = Checker(value, (*self.loc, name))
        child.errors = self.errors  # one shared list: the reply lists every problem
        return child


@dataclass(frozen=True, slots=True)
class OutputFormat:
    name: str
    spec_fmt: str  # AudioSpec.fmt
    sample_rate: int
    bitrate_kbps: int | None
    content_type: str

    def spec(self, duration_s: float, channels: int) -> AudioSpec:
        return AudioSpec(
            self.spec_fmt,
            duration_s,
            self.sample_rate,  # type: ignore[arg-type]
            channels,
            self.bitrate_kbps,
        )


_PCM_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
# Only audio/mpeg is documented; the other content types are the simulator's best guess.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "mp3_22050_32": OutputFormat("mp3_22050_32", "mp3", 22050, 32, "audio/mpeg"),
    **{
        f"mp3_44100_{b}": OutputFormat(f"mp3_44100_{b}", "mp3", 44100, b, "audio/mpeg")
        for b in (32, 64, 96, 128, 192)
    },
    **{f"pcm_{r}": OutputFormat(f"pcm_{r}", "pcm", r, None, "audio/pcm") for r in _PCM_RATES},
    **{f"wav_{r}": OutputFormat(f"wav_{r}", "wav", r, None, "audio/wav") for r in _PCM_RATES},
    **{
        f"opus_48000_{b}": OutputFormat(f"opus_48000_{b}", "opus", 48000, b, "audio/opus")
        for b in (32, 64, 96, 128, 192)
    },
    "ulaw_8000": OutputFormat("ulaw_8000", "ulaw", 8000, None, "audio/basic"),
    "alaw_8000": OutputFormat("alaw_8000", "alaw", 8000, None, "audio/alaw"),
}
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"


_TRUE = ("1", "on", "t", "true", "y", "yes")
_FALSE = ("0", "off", "f", "false", "n", "no")


def query_bool(query: dict[str, str] | Any, name: str) -> tuple[bool | None, list[Error]]:
    """A boolean query parameter as pydantic parses it (``None`` when absent)."""
    raw = query.get(name)
    if raw is None:
        return None, []
    if raw.lower() in _TRUE:
        return True, []
    if raw.lower() in _FALSE:
        return False, []
    msg = "Input should be a valid boolean, unable to interpret input"
    return None, [error(("query", name), msg, "bool_parsing")]


def output_format(query: dict[str, str] | Any) -> tuple[OutputFormat | None, list[Error]]:
    name = query.get("output_format") or DEFAULT_OUTPUT_FORMAT
    fmt = OUTPUT_FORMATS.get(name)
    if fmt is None:
        options = list(OUTPUT_FORMATS)
        listed = ", ".join(f"'{o}'" for o in options[:-1]) + f" or '{options[-1]}'"
        return None, [error(("query", "output_format"), f"Input should be {listed}", "enum")]
    return fmt, []
