"""The benchmark runner and CLI (``python -m benchmarks``): records, report, Skip and errors.

The runner is tested with fake cases (one ok, one Skip, one error); the
``quick`` suite is run once end to end through the CLI, as CI does.
"""

import csv
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives at the repository root, not in the package
    sys.path.insert(0, str(ROOT))

from benchmarks import _runner  # noqa: E402
from benchmarks._api import Case, Context, Skip  # noqa: E402

MTLREG_SOLVERS = {"L21Regressor", "MTFLRegressor", "LassoRegressor", "DirtyRegressor",
                  "L21Classifier", "MTFLClassifier", "LassoClassifier", "DirtyClassifier"}


def _cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _skip_me():
    raise Skip("peer not installed")


def _fail():
    raise ZeroDivisionError("boom")


def _fake_suite():
    calls = []

    def ok():
        calls.append(1)
        return {"score": 0.5 + 0.25 * len(calls), "seconds": 0.01}

    def cases(ctx):
        yield Case("p1", "ours", ok, params={"n": 10})
        yield Case("p1", "peer", _skip_me, params={"n": 10})
        yield Case("p2", "ours", _fail)
        yield Case("p2", "clash", lambda: {"n": 1.0}, params={"n": 3})
        yield Case("p3", "clash", ok, params={"status": "mine"})

    def figures(records, out_dir):
        raise ImportError("No module named 'matplotlib'")

    return types.SimpleNamespace(DESCRIPTION="a fake suite", cases=cases, figures=figures), calls


def test_run_cases_ok_skip_error(tmp_path):
    suite, calls = _fake_suite()
    ctx = Context(suite="fake", out_dir=str(tmp_path), repeat=3)
    records, metrics, interrupted = _runner.run_cases(suite.cases(ctx), ctx, progress=False)
    assert not interrupted
    assert metrics == ["score", "seconds"]
    by_solver = {}
    for r in records:
        by_solver.setdefault((r["problem"], r["solver"]), []).append(r)
    ok = by_solver["p1", "ours"]
    assert [r["repeat"] for r in ok] == [0, 1, 2] and len(calls) == 3
    assert all(r["status"] == "ok" and r["n"] == 10 and r["suite"] == "fake" for r in ok)
    assert [r["score"] for r in ok] == [0.75, 1.0, 1.25]
    (skipped,) = by_solver["p1", "peer"]  # a Skip is recorded once, not retried
    assert skipped["status"] == "skipped" and skipped["reason"] == "peer not installed"
    (error,) = by_solver["p2", "ours"]
    assert error["status"] == "error" and error["reason"] == "ZeroDivisionError: boom"
    (clash,) = by_solver["p2", "clash"]  # a metric may not overwrite a param
    assert clash["status"] == "error" and "clash" in clash["reason"]
    (clash,) = by_solver["p3", "clash"]  # nor a param a record field
    assert clash["status"] == "error" and "clash" in clash["reason"] and len(calls) == 3


def test_max_time_stops_repeats(tmp_path):
    import time

    def slow():
        time.sleep(0.02)
        return {"x": 1.0}

    ctx = Context(suite="fake", out_dir=str(tmp_path), repeat=4, max_time=0.001)
    records, _, _ = _runner.run_cases([Case("p", "s", slow)], ctx, progress=False)
    assert len(records) == 1 and records[0]["status"] == "ok"
    assert "repeats 1..3 not run" in records[0]["reason"]


def test_main_writes_report_and_exits_nonzero_on_error(tmp_path, monkeypatch, capsys):
    suite, _ = _fake_suite()
    monkeypatch.setattr(_runner, "load_suite", lambda name: suite)
    out = tmp_path / "out"
    assert _runner.main(["run", "--suite", "fake", "--out", str(out), "--repeat", "2"]) == 1
    assert "fake: 2 ok, 1 skipped, 3 errors" in capsys.readouterr().out

    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:8] == list(_runner.FIXED_FIELDS)
    assert [r["status"] for r in rows] == ["ok", "ok", "skipped", "error", "error", "error"]

    data = json.loads((out / "records.json").read_text())
    header = data["header"]
    for key in ("suite", "command", "utc_time", "cpu_count", "python", "numpy", "sklearn",
                "mtlreg", "device"):
        assert key in header
    assert header["suite"] == "fake" and header["device"] == "cpu"
    assert header["command"].startswith("python -m benchmarks run --suite fake")
    assert header["max_time"] == "inf"
    assert len(data["records"]) == 6

    summary = (out / "summary.md").read_text()
    assert "## score" in summary and "## seconds" in summary
    assert "| problem | ours |" in summary
    assert "| p1 | 0.875 ± 0.1768 (n=2) |" in summary
    assert "- p1 | peer: peer not installed" in summary
    assert "ZeroDivisionError: boom" in summary
    assert "Figures skipped" in summary  # figures() raised ImportError: a note, not an error


def test_unknown_suite_exits_2(capsys):
    assert _runner.main(["run", "--suite", "no_such_suite"]) == 2
    assert "no suite 'no_such_suite'" in capsys.readouterr().err


def _gpu_available():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.skipif(_gpu_available(), reason="a GPU is available: the cuda cases run")
def test_quick_cuda_cases_skip_without_gpu(tmp_path):
    from benchmarks.suites import quick

    ctx = Context(suite="quick", out_dir=str(tmp_path), device="cuda")
    picked = [c for c in quick.cases(ctx) if c.solver in MTLREG_SOLVERS or "vs" in c.solver]
    records, _, _ = _runner.run_cases(picked, ctx, progress=False)
    assert len(records) == 9
    assert all(r["status"] == "skipped" and r["reason"] for r in records)


def test_cli_list():
    res = _cli("list", timeout=120)
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line.strip()}
    assert "quick" in lines and "School" in lines["quick"]


def test_cli_quick_suite(tmp_path):
    out = tmp_path / "quick"
    res = _cli("run", "--suite", "quick", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("records.csv", "records.json", "summary.md"):
        assert (out / name).is_file()

    data = json.loads((out / "records.json").read_text())
    records = data["records"]
    assert data["header"]["suite"] == "quick"
    assert {r["status"] for r in records} == {"ok"}, [r for r in records if r["status"] != "ok"]
    assert MTLREG_SOLVERS <= {r["solver"] for r in records}
    school = {r["solver"]: r for r in records if r["problem"] == "school"}
    landmine = {r["solver"]: r for r in records if r["problem"] == "landmine"}
    from benchmarks.suites.quick import LANDMINE_METHODS, SCHOOL_METHODS

    assert set(school) == set(SCHOOL_METHODS) and set(landmine) == set(LANDMINE_METHODS)
    # loose sanity bounds: every method explains part of the variance / ranks better than chance
    assert all(0.4 < r["nmse"] < 0.9 for r in school.values())
    assert all(0.6 < r["auc"] < 0.95 for r in landmine.values())
    (speed,) = [r for r in records if r["problem"].startswith("shared")]
    assert speed["time_mtlreg_s"] > 0 and speed["time_sklearn_s"] > 0
    assert speed["speedup"] == pytest.approx(speed["time_sklearn_s"] / speed["time_mtlreg_s"])

    summary = (out / "summary.md").read_text()
    for metric in ("## nmse", "## explained_variance", "## auc", "## speedup"):
        assert metric in summary
    assert "| problem | L21Regressor | MTFLRegressor | LassoRegressor |" in summary
    assert "| school |" in summary and "| landmine |" in summary
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "Figures skipped" in summary
    else:
        assert (out / "quick_accuracy.png").is_file()


def test_progress_without_tqdm(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `from tqdm import tqdm` raises ImportError
    ctx = Context(suite="fake", out_dir=str(tmp_path), repeat=2)
    cases = [Case("p", "ours", lambda: {"x": 1.0}), Case("p", "peer", _skip_me)]
    _runner.run_cases(cases, ctx, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[1/2] p | ours: ok (2 runs,") and "elapsed" in err[0]
    assert err[1].startswith("[2/2] p | peer: skipped (1 run,")
