"""Cut the ElevenLabs OpenAPI document down to the paths Foley's tests check.

The published document is 1.4 MB; the tests need a few paths and the schemas
they reference. Re-run after downloading a newer document (or to add a path):

    python tests/data/reference/extract_elevenlabs.py /path/to/elevenlabs-openapi.json

Writes ``elevenlabs-openapi.json`` beside this script: the listed path items whole
(every method), every ``#/components/...`` object they reference (transitively),
and ``info`` / ``openapi`` unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Every ElevenLabs path the bot or the simulator calls, and the music endpoints
# (documented in shared/notes/providers.md) that later work will call.
PATHS = (
    "/v1/models",
    "/v1/music",
    "/v1/music/detailed",
    "/v1/music/plan",
    "/v1/music/stream",
    "/v1/sound-generation",
    "/v1/text-to-speech/{voice_id}",
    "/v1/text-to-speech/{voice_id}/stream",
    "/v1/text-to-speech/{voice_id}/stream/with-timestamps",
    "/v1/text-to-speech/{voice_id}/with-timestamps",
    "/v1/user",
    "/v1/user/subscription",
    "/v1/voices",
    "/v2/voices",
)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def extract(spec: dict[str, Any], paths: tuple[str, ...] = PATHS) -> dict[str, Any]:
    missing = [p for p in paths if p not in spec["paths"]]
    if missing:
        raise SystemExit(f"not in the document: {', '.join(missing)}")
    out: dict[str, Any] = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "paths": {p: spec["paths"][p] for p in paths},
        "components": {},
    }
    todo = _refs(out["paths"])
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen or not ref.startswith("#/components/"):
            continue
        seen.add(ref)
        section, name = ref.removeprefix("#/components/").split("/", 1)
        node = spec["components"][section][name]
        out["components"].setdefault(section, {})[name] = node
        todo |= _refs(node)
    for section in out["components"].values():  # stable order → small diffs on re-runs
        items = sorted(section.items())
        section.clear()
        section.update(items)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python extract_elevenlabs.py FULL-elevenlabs-openapi.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text("utf-8"))
    target = HERE / "elevenlabs-openapi.json"
    target.write_text(json.dumps(extract(spec), indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
