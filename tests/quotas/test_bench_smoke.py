"""The ledger benchmark still runs (tiny sizes), so it cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ledger_bench.py"


async def test_ledger_bench_runs(capsys, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("ledger_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look it up
    spec.loader.exec_module(module)
    await module.main(["--tasks", "3", "--per-task", "4", "--connections", "1,2"])
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[2:]]
    assert rows == ["baseline", "reserve", "reserve+settle"] * 2
