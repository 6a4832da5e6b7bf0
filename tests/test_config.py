from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

BASE = {"DISCORD_TOKEN": "x" * 30}


def test_defaults_follow_the_documented_contract() -> None:
    s = load_settings(BASE)
    assert s.aimlapi_base_url == "https://api.aimlapi.com"
    assert s.elevenlabs_base_url == "https://api.elevenlabs.io"
    assert s.data_dir == Path("./data")
    assert s.database_path == Path("./data/foley.sqlite3")
    assert s.aimlapi_max_concurrency == 4 and s.elevenlabs_max_concurrency == 2
    assert s.max_download_bytes == 100 * 1024 * 1024
    assert s.health_port == 8080 and s.health_host == "127.0.0.1"
    assert s.aimlapi_api_key is None  # provider disabled, not an error


def test_database_path_follows_data_dir() -> None:
    s = load_settings({**BASE, "DATA_DIR": "/srv/foley"})
    assert s.database_path == Path("/srv/foley/foley.sqlite3")


def test_lists_and_urls_are_parsed() -> None:
    s = load_settings(
        {
            **BASE,
            "DEV_GUILD_IDS": "1, 2,3",
            "DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1:9000, Sim.local",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:1/gateway",
            "AIMLAPI_BASE_URL": "http://127.0.0.1:9000/",
        }
    )
    assert s.dev_guild_ids == (1, 2, 3)
    assert s.download_allowed_hosts == ("127.0.0.1:9000", "sim.local")
    assert s.aimlapi_base_url == "http://127.0.0.1:9000"


def test_missing_token_names_the_variable_and_the_example_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({})
    assert info.value.name == "DISCORD_TOKEN"
    assert ".env.example" in str(info.value)
    assert load_settings({}, require_token=False).discord_token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEV_GUILD_IDS", "abc"),
        ("AIMLAPI_BASE_URL", "ftp://x"),
        ("DISCORD_GATEWAY_URL", "http://x"),
        ("JOB_TIMEOUT_S", "soon"),
        ("MAX_JOBS_PER_USER", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("QUOTA_PERIOD", "fortnight"),
        ("HEALTH_PORT", "99999"),
        ("CANCEL_REFUND_POLICY", "maybe"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, name: value})
    assert info.value.name == name
    assert str(info.value).startswith(f"{name}: expected")


def test_empty_health_port_turns_the_endpoint_off() -> None:
    s = load_settings({**BASE, "HEALTH_PORT": ""})
    assert s.health_port is None and s.health_host is None


def test_secrets_lists_every_key() -> None:
    s = load_settings({**BASE, "AIMLAPI_API_KEY": "aiml-secret", "ELEVENLABS_API_KEY": "xi-sec"})
    assert set(s.secrets()) == {"x" * 30, "aiml-secret", "xi-sec"}


def test_database_url_selects_postgresql_and_its_password_is_a_secret() -> None:
    url = "postgresql://foley:s3cret-pw@db.internal:5432/foley"
    s = load_settings({"DISCORD_TOKEN": "t", "DATABASE_URL": url})
    assert s.database == url and s.database_url == url
    assert "s3cret-pw" in s.secrets()
    assert load_settings({"DISCORD_TOKEN": "t"}).database == Path("data/foley.sqlite3")


def test_a_malformed_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DISCORD_TOKEN": "t", "DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert caught.value.name == "DATABASE_URL" and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "ids"), [("0-3", (0, 1, 2, 3)), ("4,5", (4, 5)), ("0-1, 6", (0, 1, 6))]
)
def test_shard_ids_are_this_processes_part_of_shard_count(raw: str, ids: tuple) -> None:
    s = load_settings({"DISCORD_TOKEN": "t", "SHARD_COUNT": "8", "SHARD_IDS": raw})
    assert s.shard_count == 8 and s.shard_ids == ids
    assert load_settings({"DISCORD_TOKEN": "t", "SHARD_COUNT": "8"}).shard_ids is None


@pytest.mark.parametrize(
    "env", [{"SHARD_IDS": "0-1"}, {"SHARD_COUNT": "4", "SHARD_IDS": "2-4"},
            {"SHARD_COUNT": "4", "SHARD_IDS": "a-b"}],
)  # fmt: skip
def test_bad_shard_ids_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DISCORD_TOKEN": "t", **env})
    assert caught.value.name == "SHARD_IDS"
