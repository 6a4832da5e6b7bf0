from __future__ import annotations

import pytest

from bot.quotas import InvalidRule, Moderation
from tests.quotas.conftest import FakeClock

G = 100


@pytest.mark.parametrize(
    ("rule", "text", "hit"),
    [
        ("cat", "a Cat!", True),
        ("cat", "CAT", True),
        ("cat", "concatenate", False),
        ("cat", "cats", False),
        ("bad word", "a BAD   word", False),  # phrases match as typed
        ("bad word", "a bad word here", True),
        ("c++", "I like C++ a lot", True),  # punctuation at the edge still bounded
        ("c++", "abc++", False),
        ("ｃａｔ", "cat", True),  # full-width rule and text are normalised alike
        ("cat", "ｃａｔ", True),
        ("re:\\bdr[a@]g+on\\b", "a DR@GGON appears", True),
        ("re:\\bdr[a@]g+on\\b", "dragonfly", False),
        ("re:^loud", "LOUD noise", True),
        ("re:^loud", "not loud", False),
    ],
)
async def test_blocklist_matching(moderation: Moderation, rule: str, text: str, hit: bool) -> None:
    assert await moderation.add_rule(G, rule, actor_id=1)
    match = await moderation.check_prompt(G, text)
    assert (match is not None) is hit
    assert await moderation.check_prompt(G + 1, text) is None  # rules are per server


async def test_first_matching_rule_is_reported(moderation: Moderation) -> None:
    await moderation.add_rule(G, "alpha", actor_id=1)
    await moderation.add_rule(G, "re:be+ta", actor_id=1)
    match = await moderation.check_prompt(G, "beeeta and more")
    assert match is not None and match.pattern == "re:be+ta" and match.is_regex


async def test_invalid_rules_are_refused_before_storing(moderation: Moderation) -> None:
    with pytest.raises(InvalidRule):
        await moderation.add_rule(G, "re:(a+)+$", actor_id=1)
    assert await moderation.rules(G) == []
    assert await moderation.audit_log(G) == []


async def test_rules_are_listed_removed_and_audited(
    moderation: Moderation, clock: FakeClock
) -> None:
    assert await moderation.add_rule(G, "  Spam ", actor_id=7)
    assert not await moderation.add_rule(G, "spam", actor_id=7)  # already there
    assert [r.pattern for r in await moderation.rules(G)] == ["spam"]
    assert await moderation.remove_rule(G, "SPAM", actor_id=8)
    assert not await moderation.remove_rule(G, "spam", actor_id=8)
    log = await moderation.audit_log(G)
    assert [(e.action, e.actor_id, e.before, e.after) for e in log] == [
        ("blocklist.remove", 8, "spam", None),
        ("blocklist.add", 7, None, "spam"),
    ]


async def test_block_and_unblock_members(moderation: Moderation) -> None:
    await moderation.block_member(G, 5, actor_id=1, reason="spam")
    await moderation.block_member(G, 5, actor_id=2, reason="more spam")
    blocked = await moderation.blocked(G, 5)
    assert blocked is not None and blocked.reason == "more spam" and blocked.actor_id == 2
    assert [b.user_id for b in await moderation.blocked_members(G)] == [5]
    assert await moderation.unblock_member(G, 5, actor_id=3)
    assert not await moderation.unblock_member(G, 5, actor_id=3)
    assert await moderation.blocked(G, 5) is None
    log = await moderation.audit_log(G, user_id=5)
    assert [(e.action, e.before, e.after) for e in log] == [
        ("member.unblock", {"reason": "more spam"}, None),
        ("member.block", {"reason": "spam"}, {"reason": "more spam"}),
        ("member.block", None, {"reason": "spam"}),
    ]


async def test_moderator_role_and_log_channel(moderation: Moderation) -> None:
    assert await moderation.moderator_role(G) is None
    await moderation.set_moderator_role(G, 555, actor_id=1)
    await moderation.set_log_channel(G, 777, actor_id=1)
    await moderation.set_moderator_role(G, 556, actor_id=2)
    assert (await moderation.moderator_role(G), await moderation.log_channel(G)) == (556, 777)
    await moderation.set_log_channel(G, None, actor_id=2)
    assert await moderation.log_channel(G) is None
    log = await moderation.audit_log(G, limit=2)
    assert [(e.action, e.target, e.before, e.after) for e in log] == [
        ("settings.log_channel", f"guild:{G}", 777, None),
        ("settings.moderator_role", f"guild:{G}", 555, 556),
    ]


async def test_audit_log_filters_by_actor_or_target(moderation: Moderation) -> None:
    await moderation.audit(G, 1, "custom.thing", "user:2", {"a": 1}, {"a": 2})
    await moderation.audit(G, 2, "custom.other", "role:9")
    await moderation.audit(G, 3, "custom.third", "user:4")
    await moderation.audit(G + 1, 2, "custom.elsewhere", "user:2")
    about_2 = await moderation.audit_log(G, user_id=2)
    assert [e.action for e in about_2] == ["custom.other", "custom.thing"]
    assert about_2[1].before == {"a": 1} and about_2[1].after == {"a": 2}
    assert len(await moderation.audit_log(G, limit=2)) == 2
