"""The benchmark runner and CLI (``python -m benchmarks``): records, report, Skip and errors.

The runner is tested with fake cases (one ok, one Skip, one error); the
``quick`` suite is run once end to end through the CLI, as CI does.  The
``--out`` checks, bad options and Ctrl-C (a ``KeyboardInterrupt`` or a real
SIGINT sent to this process) are tested with fake suites, so that no real
case runs.
"""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
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


@pytest.mark.parametrize("broken", [False, True])
def test_suite_summary_section(tmp_path, broken):
    """A suite's own ``summary(records)`` lines land in summary.md after the metric
    tables; a failing one leaves a line saying so, and the rest of the report."""
    def summary(records):
        if broken:
            raise ValueError("bad section")
        return ["## Worst case", "", f"{len(records)} records seen", ""]

    suite = types.SimpleNamespace(
        DESCRIPTION="fake", summary=summary,
        cases=lambda ctx: [Case("p", "s", lambda: {"seconds": 1.0})])
    ctx = Context(suite="fake", out_dir=str(tmp_path))
    records, paths, ok = _runner.run_suite(suite, ctx, progress=False)
    text = (tmp_path / "summary.md").read_text()
    assert "## seconds" in text and ok
    if broken:
        assert "summary section failed: ValueError: bad section" in text
    else:
        assert text.index("## Worst case") > text.index("## seconds")
        assert "1 records seen" in text


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


# -- --out, bad options and Ctrl-C ----------------------------------------------------------
def _counting_suite(calls, figures=None):
    def cases(ctx):
        yield Case("p", "ours", lambda: calls.append("ours") or {"x": 1.0})

    return types.SimpleNamespace(DESCRIPTION="counting", cases=cases, figures=figures)


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("where", ["file", "under_file", "deep_under_file"])
def test_out_blocked_by_a_file_exits_2_before_any_case(tmp_path, monkeypatch, capsys, where):
    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _counting_suite(calls))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = {"file": blocker, "under_file": blocker / "out",
           "deep_under_file": blocker / "a" / "b"}[where]
    assert _runner.main(["run", "--suite", "fake", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: --out {out}: ")
    assert line.endswith("is an existing file, not a folder" if where == "file"
                         else f"{blocker} is a file, not a folder")
    assert calls == [] and sorted(os.listdir(tmp_path)) == ["a_file"]


def test_out_not_writable_exits_2_before_any_case(tmp_path, monkeypatch, capsys):
    # chmod does not stop root: the probe file's PermissionError is simulated
    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(path, "probe"))

    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _counting_suite(calls))
    monkeypatch.setattr(_runner, "_probe_writable", denied)
    out = tmp_path / "new" / "out"
    assert _runner.main(["run", "--suite", "fake", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == f"error: --out {out}: not writable (Permission denied)"
    assert calls == [] and not out.exists()  # the folder it created is removed again


def test_out_probe_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b"
    assert _runner.prepare_out_dir(str(out)) is True
    assert out.is_dir() and os.listdir(out) == []
    assert _runner.prepare_out_dir(str(out)) is False  # an existing folder is fine


def test_cli_out_is_a_file_exits_2(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    res = _cli("run", "--suite", "quick", "--out", str(blocker / "out"), timeout=120)
    assert res.returncode == 2
    assert _one_line(res.stderr) == (f"error: --out {blocker / 'out'}: {blocker} is a file, "
                                     "not a folder")
    assert res.stdout == ""


@pytest.mark.parametrize("option, value, message", [
    ("--repeat", "abc", "--repeat: must be an integer >= 1, got 'abc'"),
    ("--repeat", "0", "--repeat: must be an integer >= 1, got '0'"),
    ("--threads", "1.5", "--threads: must be an integer >= 1, got '1.5'"),
    ("--max-time", "soon", "--max-time: must be a number > 0, got 'soon'"),
    ("--seed", "x", "--seed: must be an integer, got 'x'"),
])
def test_bad_option_one_line_error(capsys, option, value, message):
    with pytest.raises(SystemExit) as exc:
        _runner.main(["run", "--suite", "quick", option, value])
    assert exc.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("python -m benchmarks run: error: " + message)
    assert "_positive" not in line and "_integer" not in line


def _sigint():
    """Ctrl-C: a real SIGINT to this process, then a wait it interrupts."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    raise AssertionError("SIGINT did not interrupt")


def _main(*args):
    """``_runner.main(args)``; a KeyboardInterrupt escaping it fails the test (rather
    than stopping pytest as a Ctrl-C would)."""
    try:
        return _runner.main(list(args))
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")


@pytest.fixture
def restores_sigint():
    """Python's own Ctrl-C handler during the test, whatever pytest started with: a
    background job of a non-interactive shell (as a CI runner may be) starts with
    SIGINT ignored, and main() then leaves Ctrl-C alone.  main() must put back the
    handler it found."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("how", ["signal", "raise"])
def test_interrupt_during_import_exits_130(tmp_path, monkeypatch, capsys, restores_sigint, how):
    def load_suite(name):
        if how == "signal":
            _sigint()
        raise KeyboardInterrupt

    monkeypatch.setattr(_runner, "load_suite", load_suite)
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out)) == 130
    captured = capsys.readouterr()
    assert _one_line(captured.err) == "interrupted before any case ran: nothing written"
    assert captured.out == "" and not out.exists()


def test_interrupt_before_the_cases_removes_the_new_folder(tmp_path, monkeypatch, capsys,
                                                           restores_sigint):
    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _counting_suite(calls))
    monkeypatch.setattr(_runner, "make_header", lambda ctx, argv: _sigint())
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out)) == 130
    assert _one_line(capsys.readouterr().err) == "interrupted before any case ran: nothing written"
    assert calls == [] and not out.exists()


def _interrupted_suite(calls, figures=None, how="signal"):
    """Three cases; Ctrl-C in the second (a real SIGINT, or a raised KeyboardInterrupt)."""
    def ok():
        calls.append("ok")
        return {"x": 1.0}

    def ctrl_c():
        calls.append("ctrl_c")
        if how == "signal":
            _sigint()
        raise KeyboardInterrupt

    def cases(ctx):
        yield Case("p", "first", ok)
        yield Case("p", "second", ctrl_c)
        yield Case("p", "third", ok)

    return types.SimpleNamespace(DESCRIPTION="interrupted", cases=cases, figures=figures)


def _assert_interrupted_report(out, captured, calls, repeat=1):
    assert calls == ["ok"] * repeat + ["ctrl_c"]  # the third case never ran
    for name in ("records.csv", "records.json", "summary.md"):
        assert (out / name).is_file(), name
    records = json.loads((out / "records.json").read_text())["records"]
    assert [(r["solver"], r["status"]) for r in records] == [("first", "ok")] * repeat
    summary = (out / "summary.md").read_text()
    assert (f"Runs: {repeat} ok, 0 skipped, 0 errors" in summary
            and "**Interrupted (Ctrl-C): partial results.**" in summary)
    assert captured.err.rstrip().splitlines()[-1] == f"interrupted: results went to {out}"
    assert f"-> {out}" in captured.out
    return summary


@pytest.mark.parametrize("how", ["signal", "raise"])
def test_interrupt_mid_run_writes_report_exits_130(tmp_path, monkeypatch, capsys,
                                                   restores_sigint, how):
    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _interrupted_suite(calls, how=how))
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out), "--repeat", "2") == 130
    captured = capsys.readouterr()
    summary = _assert_interrupted_report(out, captured, calls, repeat=2)
    assert "## x" in summary and "Traceback" not in captured.err


def test_second_sigint_while_writing_is_deferred(tmp_path, monkeypatch, capfd,
                                                 restores_sigint):
    def figures(records, out_dir):
        os.kill(os.getpid(), signal.SIGINT)  # a third Ctrl-C, while drawing
        path = os.path.join(out_dir, "fig.png")
        with open(path, "wb") as fh:
            fh.write(b"png")
        return [path]

    real_write_records = _runner.write_records

    def write_records(*args):
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, as the records are written
        time.sleep(0.05)
        return real_write_records(*args)

    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _interrupted_suite(calls, figures))
    monkeypatch.setattr(_runner, "write_records", write_records)
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out)) == 130
    captured = capfd.readouterr()  # the deferral note is written to fd 2 directly
    summary = _assert_interrupted_report(out, captured, calls)
    assert captured.err.count(f"Ctrl-C deferred: still writing the results to {out}") == 2
    assert "Traceback" not in captured.err
    assert (out / "fig.png").is_file() and "![fig.png](fig.png)" in summary


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_failed_figures_still_write_records_and_summary(tmp_path, monkeypatch, capsys,
                                                        restores_sigint, error):
    def figures(records, out_dir):
        raise error("no figure")

    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _interrupted_suite(calls, figures))
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out)) == 130
    summary = _assert_interrupted_report(out, capsys.readouterr(), calls)
    assert "Figures failed" in summary and "Figures not drawn" not in summary
    assert "![" not in summary


def test_sigint_while_writing_a_complete_run_is_deferred(tmp_path, monkeypatch, capfd,
                                                         restores_sigint):
    real_write_summary = _runner.write_summary

    def write_summary(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real_write_summary(*args, **kwargs)

    calls = []
    monkeypatch.setattr(_runner, "load_suite", lambda name: _counting_suite(calls))
    monkeypatch.setattr(_runner, "write_summary", write_summary)
    out = tmp_path / "out"
    assert _main("run", "--suite", "fake", "--out", str(out)) == 130
    captured = capfd.readouterr()
    assert calls == ["ours"] and "Traceback" not in captured.err
    assert captured.err.rstrip().splitlines()[-1] == f"interrupted: results went to {out}"
    summary = (out / "summary.md").read_text()
    assert "Runs: 1 ok" in summary and "Interrupted" not in summary  # every case ran


def test_scale_families_axis_runs_every_family(tmp_path, monkeypatch):
    """The ``scale`` suite's families axis (issue 18), on two tiny sizes: one whole fit
    per family and size, its summary row with the ratio to L21Regressor's time (1.00x
    for itself), and its figure."""
    from benchmarks import _scale_families as families
    from benchmarks.suites import scale

    monkeypatch.setenv("SCALE_AXES", "families")
    monkeypatch.setattr(families, "TASKS", (30, 60))
    ctx = Context(suite="scale", out_dir=str(tmp_path))
    records, _, ok = _runner.run_suite(scale, ctx, progress=False)
    assert ok and len(records) == 2 * len(families.FAMILIES)
    assert all(r["status"] == "ok" and r["axis"] == "families" for r in records)
    assert all(r["n_iter"] >= 1 and r["peak_over_x"] > 0 for r in records)
    text = (tmp_path / "summary.md").read_text()
    for T in (30, 60):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {T} |")]
        assert row.count(" it, ") == len(families.FAMILIES) and "(1.00x)" in row
    assert (tmp_path / "scale_families.png").stat().st_size > 0
    monkeypatch.setenv("SCALE_AXES", "families,nonsense")
    with pytest.raises(ValueError, match="SCALE_AXES names unknown axes"):
        list(scale.cases(ctx))
