"""User-facing errors and the one function that turns any exception into text.

The Discord adapter and the CLI both call :func:`describe_error`, so a member
and an operator see the same short sentence for the same failure. Unexpected
exceptions get a reference id; the full traceback goes to the log under it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.logs import new_reference
from bot.providers.errors import ProviderError

log = logging.getLogger(__name__)


class UserError(Exception):
    """Something the member can fix; ``str()`` is shown as is."""


@dataclass(frozen=True)
class ErrorReport:
    message: str
    reference: str | None = None


def describe_error(exc: BaseException, *, context: str = "") -> ErrorReport:
    if isinstance(exc, UserError):
        return ErrorReport(str(exc))
    if isinstance(exc, ProviderError):
        reference = new_reference()
        log.warning("[%s] %s%s", reference, f"{context}: " if context else "", exc.log_text())
        return ErrorReport(exc.user_message, reference)
    user_message = getattr(exc, "user_message", None)
    if isinstance(user_message, str):
        return ErrorReport(user_message)
    reference = new_reference()
    log.error(
        "[%s] unexpected error%s", reference, f" in {context}" if context else "", exc_info=exc
    )
    return ErrorReport(
        f"Something went wrong on our side (reference `{reference}`). "
        "Please try again; if it keeps happening, give the reference to a moderator.",
        reference,
    )
