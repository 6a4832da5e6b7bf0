"""Suite-wide fixtures and the CI rule that nothing may be skipped there.

A skip is fine on a developer's machine that lacks an optional service (each
such skip says in one line how to enable it), but under ``CI=true`` every
suite must run: a skip there fails the whole run.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.fakes.fixtures", "tests.simulator_fixtures", "tests.pg_fixtures"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _in_ci():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.ensure_newline()
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; under CI every test must run.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
