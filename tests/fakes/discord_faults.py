"""REST failure injection for the fake Discord: make chosen requests fail on purpose.

    fake.rest_faults.add(RestFault(method="PATCH", path=r"/webhooks/.*/messages/",
                                   with_files=True, status=403, code=50013,
                                   message="Missing Permissions"))

A fault matches on method, a regex searched in the path (after ``/api/v10``)
and, optionally, whether the request uploads files — so "the result upload
fails" can be told apart from "the status edit fails", which use the same
route. The first matching fault answers with Discord's error shape
(``{"message", "code"}``) instead of running the route; ``times`` uses it up
(None: until removed). The request is still recorded, with its status.

Remember that discord.py retries 5xx itself (webhooks: 5 tries, sleeping 1, 3,
5, 7 s), so a permanent 500 takes ~25 s per call to surface; a 403/404/413
surfaces at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class RestFault:
    method: str | None = None  # None = any method
    path: str = ""  # regex, searched in the path without the /api/v10 prefix
    status: int = 500
    code: int = 0
    message: str = "500: Internal Server Error"
    times: int | None = 1
    with_files: bool | None = None  # True: only uploads; False: only requests without files
    hits: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError("a REST fault's status must be an HTTP error status")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str, has_files: bool) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.with_files is not None and self.with_files != has_files:
            return False
        return self._pattern.search(path) is not None


class RestFaults:
    """The fake's active REST faults, checked in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[RestFault] = []
        self.fired: list[tuple[str, str, int]] = []  # (method, path, status)

    def add(self, fault: RestFault) -> RestFault:
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    @property
    def active(self) -> list[RestFault]:
        return list(self._faults)

    def take(self, method: str, path: str, has_files: bool) -> RestFault | None:
        for fault in self._faults:
            if not fault.matches(method, path, has_files):
                continue
            fault.hits += 1
            if fault.times is not None and fault.hits >= fault.times:
                self._faults.remove(fault)
            self.fired.append((method, path, fault.status))
            return fault
        return None
