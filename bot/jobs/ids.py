"""Job ids: short, unguessable, typeable.

Users see job ids (``/job k3f9x2ab``) and buttons carry them in custom ids, so
they are short lowercase strings rather than integers; random rather than
``max+1`` so ids are never reused and reveal nothing about volume.
"""

from __future__ import annotations

import re
import secrets

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to type
JOB_ID_LENGTH = 8
JOB_ID_PATTERN = re.compile(rf"^[{_ALPHABET}]{{{JOB_ID_LENGTH}}}$")


def new_job_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(JOB_ID_LENGTH))


def is_job_id(text: str) -> bool:
    return bool(JOB_ID_PATTERN.match(text))
