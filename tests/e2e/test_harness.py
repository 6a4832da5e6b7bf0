from tests.e2e.harness import running_foley
from tests.fakes.fixtures import MEMBER_ID


async def test_in_process_foley_answers_about(fake_discord, simulator, tmp_path) -> None:
    async with running_foley(fake_discord, simulator, tmp_path) as foley:
        text = await foley.reply_text("about", MEMBER_ID)
        assert text.startswith("(private) **Foley")
        assert "not configured" not in text
