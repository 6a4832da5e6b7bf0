"""A small JSON-Schema subset checker for the providers' published OpenAPI documents.

Enough for reply shapes: ``$ref``, ``anyOf``/``oneOf``, ``type`` (with OpenAPI 3.0
``nullable``), ``enum``, ``required``, ``properties``, ``items`` and
``additionalProperties``, ``minLength``/``maxLength`` and ``minimum``/``maximum``.
Returns a list of problems instead of raising, so one
assertion shows all of them.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

# Copies of the providers' published OpenAPI documents are kept in the repository
# (tests/data/reference, see its README); FOLEY_REFERENCE_DIR points at others.
_DEFAULT_REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
REFERENCE_DIR = Path(os.environ.get("FOLEY_REFERENCE_DIR", str(_DEFAULT_REFERENCE)))

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@cache
def load_spec(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE_DIR / name).read_text())


def _type_ok(value: Any, type_name: str) -> bool:
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[type_name])


def check(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    if "$ref" in schema:
        target: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return check(spec, target, value, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [check(spec, s, value, where) for s in schema[key]]
            if any(not problems for problems in options):
                return []
            return [f"{where}: matches none of {key}: {options}"]
    if value is None and schema.get("nullable"):
        return []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return [f"{where}: expected {types}, got {type(value).__name__} {value!r:.60}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    problems: list[str] = []
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{where}: longer than {schema['maxLength']}")
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: missing required {name!r}")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems += check(spec, sub, value[name], f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in schema.get("properties", {}):
                    problems += check(spec, extra, item, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += check(spec, schema["items"], item, f"{where}[{i}]")
    return problems


def response_schema(
    spec: dict[str, Any], path: str, method: str, status: str = "200"
) -> dict[str, Any]:
    content = spec["paths"][path][method]["responses"][status]["content"]
    return content["application/json"]["schema"]
