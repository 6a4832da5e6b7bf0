import logging

from bot.logs import RedactingFilter, setup_logging


def test_known_secrets_and_token_shapes_are_redacted() -> None:
    f = RedactingFilter(["sk-live-123456"])
    text = (
        "key sk-live-123456 in url https://discord.com/api/v10/webhooks/123/"
        "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA Authorization: Bot abc.def.ghijklmnop "
        "xi-api-key: abcdef123456"
    )
    out = f.redact(text)
    assert "sk-live-123456" not in out
    assert "aW50ZXJhY3Rpb246" not in out
    assert "abc.def.ghijklmnop" not in out
    assert "abcdef123456" not in out


def test_filter_rewrites_records_and_tracebacks(capsys) -> None:
    setup_logging("INFO", ["super-secret-key"])
    log = logging.getLogger("test.redact")
    try:
        raise RuntimeError("boom with super-secret-key")
    except RuntimeError:
        log.exception("failed calling with %s", "super-secret-key")
    err = capsys.readouterr().err
    assert "failed calling with [redacted]" in err
    assert "boom with [redacted]" in err
    assert "super-secret-key" not in err


def test_token_fields_of_gateway_dumps_are_redacted() -> None:
    """discord.py's DEBUG "WebSocket Event: {...}" is a dict repr; HTTP bodies are JSON."""
    f = RedactingFilter()
    token = "aW50ZXJhY3Rpb246MTQ0NDU1NTY2Njc3Nzg4ODk5OmFiY2RlZg"
    dumped = (
        "For Shard ID None: WebSocket Event: {'t': 'INTERACTION_CREATE', 'd': {'type': 2, "
        f"'token': '{token}', 'id': '1444555666777888999'}}"
    )
    json_body = f'{{"type": 2, "token": "{token}", "voice_token": "{token}"}}'
    for text in (dumped, json_body):
        out = f.redact(text)
        assert token not in out
        assert "'token': '[redacted]'" in out or '"token": "[redacted]"' in out
    assert "'id': '1444555666777888999'" in f.redact(dumped)  # the rest stays readable
