"""The scale benchmark still runs (tiny sizes), on every backend available."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.pg_fixtures import find_pg_bin

REPO = Path(__file__).resolve().parents[2]


def test_scale_bench_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_bench", "--reservations", "30", "--jobs", "6"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split()[:3] for line in done.stdout.splitlines()[1:]]
    backends = ["sqlite"] + (["postgresql"] if find_pg_bin() else [])
    expected = [[what, b, n] for b in backends for n in ("1", "3")
                for what in ("reservations/s", "jobs/s")]  # fmt: skip
    assert rows == expected
