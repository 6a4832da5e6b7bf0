"""docker-compose.yml's "scaled" profile: PostgreSQL and two bot processes splitting shards.

There is no compose engine here, so the file is parsed and checked for what
the profile promises: the services, their settings (each a real Foley setting
that load_settings accepts), the shard split and the healthchecks.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import load_settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
BOTS = ("foley-a", "foley-b")


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_single_process_service_is_unchanged() -> None:
    foley = services()["foley"]
    assert "profiles" not in foley and "DATABASE_URL" not in foley["environment"]


def test_the_scaled_profile_has_postgresql_and_two_bots_with_healthchecks() -> None:
    found = services()
    for name in ("postgres", *BOTS):
        assert found[name]["profiles"] == ["scaled"], name
        check = found[name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["interval"] and check["retries"] >= 3
    assert "pg_isready" in found["postgres"]["healthcheck"]["test"]
    assert found["postgres"]["image"].startswith("postgres:")
    for bot in BOTS:
        assert "/healthz" in " ".join(found[bot]["healthcheck"]["test"])
        assert found[bot]["depends_on"]["postgres"]["condition"] == "service_healthy"
    volumes = [found[bot]["volumes"][0].split(":")[0] for bot in BOTS]
    assert len(set(volumes)) == len(BOTS)  # each its own DATA_DIR (its own lease identity)


def test_the_two_bots_share_the_database_and_split_every_shard_once() -> None:
    found = services()
    shards: list[int] = []
    counts = set()
    for bot in BOTS:
        env = {k: str(v) for k, v in found[bot]["environment"].items()}
        env = {k: v.replace("${POSTGRES_PASSWORD}", "pw") for k, v in env.items()}
        settings = load_settings({"DISCORD_TOKEN": "t", **env})
        assert settings.database_url == "postgresql://foley:pw@postgres:5432/foley"
        counts.add(settings.shard_count)
        assert settings.shard_ids is not None
        shards.extend(settings.shard_ids)
    (count,) = counts
    assert count is not None and sorted(shards) == list(range(count))
