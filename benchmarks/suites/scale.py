"""Scaling of mtlreg's solvers: time per FISTA iteration, whole fits and peak memory.

Three axes of growth, each with ``L21Regressor`` (squared loss) and
``L21Classifier`` (logistic loss):

* ``tasks``: many small tasks -- ``T`` = 10 .. 100,000, ``n_t`` drawn in
  10 .. 20, ``d = 20``;
* ``samples``: ``T = 50``, ``n_t`` = 10 .. 10,000 per task, ``d = 50``;
* ``features``: ``T = 20``, ``n_t = 100``, ``d`` = 10 .. 10,000.

What is measured, for each size (``run()`` of one case):

``time_per_iter_s``
    Slope of the wall time of :func:`mtlreg.solvers.fista` on the full problem
    against its iteration count: the solver runs ``k1 = 10`` and ``k2 >= 30``
    iterations (``tol=0`` and no convergence check before ``max_iter``, so it
    always runs them), and the slope is ``(t(k2) - t(k1)) / (k2 - k1)``.
    Everything done once per solve (Lipschitz estimate, initial objective,
    the final check) cancels in the difference; backtracking (logistic loss)
    is included at its real rate (``backtracks_per_iter``).  ``k2`` grows
    until the span ``t(k2) - t(k1)`` is >= 0.3 s (at most 2,000 iterations,
    then the best of up to 8 runs; every time is the best of 2 runs), so
    small problems are not timer noise.
    The problem and objective are what ``fit`` runs: ``est.prepare(X, y,
    tasks)`` (with its choice between the Gram and the data path: ``path``
    param, cross-checked by the ``gram`` metric) and ``est.get_objective``;
    FISTA gets the data fit, penalty, options and cold start that
    :func:`mtlreg.problem.solve` hands its solver
    (:func:`benchmarks._seam.solver_pieces`).  For ``d >= 200`` ``solve``
    runs FISTA on working sets of features; the number here is one
    iteration on all features (what a working-set subproblem saves on).
``check_s``, ``time_per_iter_with_checks_s``
    One convergence check (objective + certified duality gap), timed at the
    point reached, and the per-iteration cost with one check every
    ``check_every`` (fista's default, 10) iterations: what a real solve pays.
``setup_s``
    ``est.prepare`` (input validation, task layout, centring, Gram matrices
    on the Gram path) and ``est.get_objective`` (``prep_s``), plus the
    solver's once-per-solve work (Lipschitz estimate, initial objective):
    ``prep + t(k1) - k1 * slope - check_s``
    (on the data path the Lipschitz estimate is timed once and passed to
    the timed runs, which then follow the same iterates).
``peak_mb``
    Peak of memory allocated during ``est.fit(X, y, tasks=tasks)`` with
    ``max_iter=10, tol=0`` (a separate, untimed fit): ``tracemalloc`` on the
    CPU (NumPy reports its buffers to it; the input ``X`` itself, ``x_mb``, is
    not counted), the CuPy memory pool (a memory hook) on the GPU.
``bandwidth_gbs``
    An ESTIMATE of the memory bandwidth achieved: bytes of the stored design
    read per iteration divided by ``time_per_iter_s``.  Data path: 2 passes
    over the stored (task-chunked, zero-padded) ``X`` per iteration, 2 more
    per rejected backtracking trial.  Gram path: 1 pass over the
    ``(T, d, d)`` Gram stack.  Checks are not included.  The
    O(n) vectors (targets, weights, linear predictor) are not counted, so
    this is a lower bound on the traffic, and is meaningful only when the
    stored design is much larger than the caches.

CPU timings run with the BLAS thread pools limited to ``BLAS_THREADS`` (1),
or to the limit the caller set below the core count (``--threads N``), or to
the ``SCALE_BLAS_THREADS`` environment variable (a count, or ``default`` for
the libraries' own setting); recorded as the ``blas_threads`` param.

``ctx.max_time`` (seconds per case): a size is skipped when the previous size's
wall time predicts more than ``max_time``: its part that grows with the size
(all but the extra iterations run to lengthen a short timing span) scaled by
the growth of ``n * d``, plus the rest.
A fourth axis, ``families``: whole fits of ``L21Regressor``, ``TraceRegressor``,
``MTFLRegressor``, ``ClusteredRegressor``, ``RelationRegressor`` and
``GraphRegressor`` (ring graph) at 1,000 to 100,000 tasks (``n_t = 10``,
``d = 20``): fit time, iterations, peak memory / ``X`` and the ratio of each
fit's time to ``L21Regressor``'s (:mod:`benchmarks._scale_families`; CPU only).
``SCALE_AXES`` (comma-separated axis names) runs a subset of the four axes.

With ``ctx.device == "cuda"`` the same cases run on CuPy arrays under
``sklearn.config_context(array_api_dispatch=True)`` (skipped when CuPy or a
CUDA device is missing).
"""

import gc
import math
import os
import time
import tracemalloc
import warnings

import numpy as np

from benchmarks import _scale_families as _families
from benchmarks._api import Case, Skip

DESCRIPTION = ("Time per FISTA iteration, setup time and peak memory of L21Regressor/"
               "L21Classifier as the number of tasks, samples per task and features grow; "
               "whole fits of six structured families from 1e3 to 1e5 tasks")

K1 = 10            # first iteration budget
MIN_SPAN_S = 0.3   # the two budgets differ by at least this much solver time
MAX_SPAN_ITERS = 2000
MIN_REPEATS = 2    # every timing is the best of this many runs
MAX_REPEATS = 8    # best-of runs when the span cannot be made longer
# BLAS threads for the measured code, unless the caller set a lower limit
# (--threads) or SCALE_BLAS_THREADS says otherwise ("default": leave the
# libraries' own setting).  One thread: the
# per-iteration kernels are memory-bound batched matrix-vector products, and
# multithreaded OpenBLAS added erratic 4-8 ms per call on a 2-vCPU VM (a batched
# matmul over 20 tasks took 4 to 210 ms), which made the timings meaningless.
BLAS_THREADS = 1
ALPHA_FRACTION = 0.1  # alpha = ALPHA_FRACTION * alpha_max

# axis -> (sizes, description of the fixed dimensions)
AXES = {
    "tasks": ([10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000], "n_t in 10..20, d=20"),
    "samples": ([10, 30, 100, 300, 1_000, 3_000, 10_000], "T=50, d=50"),
    "features": ([10, 30, 100, 300, 1_000, 3_000, 10_000], "T=20, n_t=100"),
}
SIZE_NAME = {"tasks": "n_tasks", "samples": "n_t", "features": "n_features"}
ESTIMATORS = ("L21Regressor", "L21Classifier")


def _dims(axis, size, rng):
    """Per-task sample counts and the number of features of one problem."""
    if axis == "tasks":
        return rng.integers(10, 21, size=size), 20
    if axis == "samples":
        return np.full(50, size), 50
    if axis == "features":
        return np.full(20, 100), size
    raise ValueError(axis)


def _gram_path(counts, n_features):
    """Whether ``fit`` of the squared loss takes the Gram path (float64 data).

    Same rule as :func:`mtlreg.problem.prepare`: ``T * d <= padded samples``
    of the chunked layout (a param, from the sizes alone; the ``gram`` metric
    is the prepared problem's ``use_gram``).
    """
    from mtlreg._data import chunk_length

    m = chunk_length(counts, n_features)
    padded = int((-(-counts // m)).sum()) * m
    return counts.shape[0] * n_features <= padded


# -- problems ----------------------------------------------------------------------

_CACHE = {}
_LAST_LOOP = [0.0, 0.0]  # (seconds in the timing loop, its size-dependent part) of the last run


def _problem(axis, size, seed):
    """``X, y_regression, y_class, tasks`` on the host; the last one is cached
    (the regressor and the classifier of one size share it)."""
    key = (axis, size, seed)
    if key in _CACHE:
        return _CACHE[key]
    _CACHE.clear()
    gc.collect()
    rng = np.random.default_rng([seed, list(AXES).index(axis), size])
    counts, d = _dims(axis, size, rng)
    T = counts.shape[0]
    tasks = np.repeat(np.arange(T), counts)
    n = tasks.shape[0]
    X = rng.standard_normal((n, d))
    k = min(d, 10)  # shared support of the true coefficients
    support = rng.choice(d, size=k, replace=False)
    W = rng.standard_normal((T, k))
    z = np.einsum("ij,ij->i", X[:, support], W[tasks])
    y_reg = z + 0.5 * rng.standard_normal(n)
    y_cls = (z + rng.logistic(size=n) > 0).astype(np.int64)
    _CACHE[key] = (X, y_reg, y_cls, tasks)
    return _CACHE[key]


# -- devices -----------------------------------------------------------------------

def _cuda_backend():
    """``(cupy, sync)`` or Skip."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception:  # ImportError, CUDARuntimeError, missing driver
        raise Skip("no CUDA device / CuPy not installed") from None
    if os.environ.get("SCIPY_ARRAY_API") != "1":
        raise Skip("array_api_dispatch needs SCIPY_ARRAY_API=1 set before SciPy is "
                   "imported (export it in the shell)")
    return cupy, cupy.cuda.runtime.deviceSynchronize


class _PeakMemory:
    """Peak bytes allocated inside the ``with`` block, above the level at entry."""

    def __init__(self, cupy=None):
        self.cupy = cupy
        self.peak = 0

    def __enter__(self):
        if self.cupy is None:
            self._started = not tracemalloc.is_tracing()
            if self._started:
                tracemalloc.start()
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
            return self
        outer = self

        class Hook(self.cupy.cuda.MemoryHook):
            name = "mtlreg_scale_peak"

            def __init__(self):
                self.current = 0

            def malloc_postprocess(self, **kw):
                if kw.get("mem_ptr"):
                    self.current += kw["mem_size"]
                    outer.peak = max(outer.peak, self.current)

            def free_postprocess(self, **kw):
                self.current -= kw["mem_size"]

        self.cupy.cuda.runtime.deviceSynchronize()
        self._hook = Hook()
        self._hook.__enter__()
        return self

    def __exit__(self, *exc):
        if self.cupy is None:
            self.peak = tracemalloc.get_traced_memory()[1] - self._base
            if self._started:
                tracemalloc.stop()
        else:
            self.cupy.cuda.runtime.deviceSynchronize()
            self._hook.__exit__(*exc)
        return False


# -- what ``fit`` runs -----------------------------------------------------------------

def _prepare(est, X, y, tasks):
    """The problem and objective of ``est.fit(X, y, tasks)`` and FISTA's arguments.

    ``est.prepare`` and ``est.get_objective``, then the data fit, penalty,
    options and cold start that :func:`mtlreg.problem.solve` hands its solver
    (see :mod:`benchmarks._seam`).  Returns ``(pieces, use_gram, stored_bytes)``
    with ``pieces = (datafit, penalty, coef0, intercept0, options)``.
    """
    from benchmarks._seam import prepare_objective, solver_pieces

    problem, objective = prepare_objective(est, X, y, tasks)
    datafit, penalty, coef0, intercept0 = solver_pieces(problem, objective)
    data = problem.data
    stored = data.gram if problem.use_gram else data.X
    stored_bytes = int(math.prod(stored.shape)) * stored.dtype.itemsize
    pieces = (datafit, penalty, coef0, intercept0, dict(objective.solver_options))
    return pieces, bool(problem.use_gram), stored_bytes


NO_CHECK = 10 ** 9  # check_every that never checks before max_iter


def _timed_fista(pieces, k, sync):
    """Wall time of ``k`` FISTA iterations without intermediate convergence checks."""
    from mtlreg.solvers import fista

    datafit, penalty, coef0, intercept0, options, lipschitz = pieces
    sync()
    t0 = time.perf_counter()
    res = fista(datafit, penalty, coef0, intercept0, **{
        **options, "tol": 0.0, "max_iter": k, "check_every": NO_CHECK,
        "lipschitz": lipschitz})
    sync()
    return time.perf_counter() - t0, int(res.n_iter), int(res.n_backtracks), res


def _best_of(pieces, k, sync, repeats):
    return min((_timed_fista(pieces, k, sync) for _ in range(repeats)), key=lambda r: r[0])


def _slope(pieces, sync):
    """Seconds per iteration from two iteration budgets (see the module doc)."""
    repeats, k2, boosted = MIN_REPEATS, 3 * K1, False
    while True:
        t1, n1, b1, res = _best_of(pieces, K1, sync, repeats)
        t2, n2, b2, _ = _best_of(pieces, k2, sync, repeats)
        span = t2 - t1
        if span >= MIN_SPAN_S or boosted:
            break
        if k2 - K1 >= MAX_SPAN_ITERS:
            # at the cap: beat the timer noise with the best of more runs
            repeats = min(MAX_REPEATS, max(repeats + 1,
                                           math.ceil(MIN_SPAN_S / max(span, 1e-4))))
            boosted = True
            continue
        per_iter = max(span / (n2 - n1), 1e-7)
        want = int(math.ceil(1.5 * MIN_SPAN_S / per_iter / K1)) * K1
        k2 = min(max(want, 2 * k2), MAX_SPAN_ITERS + K1)
    slope = max(span, 0.0) / (n2 - n1)
    return slope, (t1, n1), (b2 - b1) / (n2 - n1), n2 - n1, repeats, res


def _check_cost(datafit, penalty, res, sync):
    """Seconds of one convergence check of fista (objective + duality gap)."""
    from mtlreg._backend import as_float
    from mtlreg.solvers import duality_gap

    x, xb = res.coef, res.intercept
    state = datafit.state(x, xb)
    use_gap = penalty.has_conjugate and datafit.has_dual  # fista's rule

    def check():
        as_float(datafit.value(x, xb, state) + penalty.value(x))
        if use_gap:
            duality_gap(datafit, penalty, x, xb, state)
        sync()

    check()
    best, spent, calls = math.inf, 0.0, 0
    while calls < 3 or (spent < 0.05 and calls < 50):
        t0 = time.perf_counter()
        check()
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return best


def _check_every():
    import inspect

    from mtlreg.solvers import fista

    return inspect.signature(fista).parameters["check_every"].default


def _blas_threads():
    """BLAS threads for the measured code: ``"default"`` or a count (as text).

    ``SCALE_BLAS_THREADS`` when set; else a limit the caller already set below
    the number of cores (``python -m benchmarks run --threads N``); else
    ``BLAS_THREADS``.
    """
    env = os.environ.get("SCALE_BLAS_THREADS")
    if env:
        return env
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "default"
    blas = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    if blas and max(blas) < (os.cpu_count() or 1):
        return str(max(blas))
    return str(BLAS_THREADS)


def _blas_limits(threads):
    from contextlib import nullcontext

    if threads == "default":
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")


def _measure(axis, size, estimator, seed, device, blas_threads="default"):
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    import mtlreg

    cupy, sync = (None, lambda: None) if device == "cpu" else _cuda_backend()
    X, y_reg, y_cls, tasks = _problem(axis, size, seed)
    y = y_reg if estimator == "L21Regressor" else y_cls
    loss = "squared" if estimator == "L21Regressor" else "logistic"
    alpha = ALPHA_FRACTION * mtlreg.alpha_max(X, y, tasks, penalty="l21", loss=loss)
    cls = getattr(mtlreg, estimator)
    config = {"array_api_dispatch": True} if cupy is not None else {}
    if cupy is not None:
        X, y = cupy.asarray(X), cupy.asarray(y)
        sync()
    limits = _blas_limits(blas_threads if cupy is None else "default")
    with sklearn.config_context(**config), warnings.catch_warnings(), limits:
        warnings.simplefilter("ignore", ConvergenceWarning)

        # peak memory of the estimator's own fit (untimed)
        est = cls(alpha=alpha, tol=0.0, max_iter=K1)
        gc.collect()
        with _PeakMemory(cupy) as mem:
            est.fit(X, y, tasks=tasks)
        del est
        gc.collect()

        # setup as fit does it: prepare, get_objective
        sync()
        t0 = time.perf_counter()
        est = cls(alpha=alpha, tol=0.0)
        (datafit, penalty, coef0, intercept0, options), use_gram, stored_bytes = _prepare(
            est, X, y, tasks)
        sync()
        prep_s = time.perf_counter() - t0

        # fista's Lipschitz estimate, once: passed to the timed runs on the data
        # path (same iterates, less time); the Gram path computes it exactly
        # (eigvalsh) and keeps it only when it computes it itself
        t0 = time.perf_counter()
        lipschitz = None if use_gram else datafit.lipschitz()
        sync()
        lipschitz_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        slope, (t1, n1), bt_per_iter, timed, repeats, res = _slope(
            (datafit, penalty, coef0, intercept0, options, lipschitz), sync)
        loop_s = time.perf_counter() - t0
        check_s = _check_cost(datafit, penalty, res, sync)

    every = _check_every()
    passes = 1.0 if use_gram else 2.0 + 2.0 * bt_per_iter
    # the timing loop's least cost (two budgets, MIN_REPEATS runs each): what
    # grows with the size; the rest of loop_s only lengthened a short span
    min_loop_s = MIN_REPEATS * (2 * t1 + 2 * K1 * slope)
    _LAST_LOOP[:] = [loop_s, min(min_loop_s, loop_s)]
    return {
        "time_per_iter_s": slope,
        "time_per_iter_with_checks_s": slope + check_s / every,
        "check_s": check_s,
        "setup_s": prep_s + lipschitz_s + max(t1 - n1 * slope - check_s, 0.0),
        "prep_s": prep_s,
        "peak_mb": mem.peak / 1e6,
        "x_mb": X.shape[0] * X.shape[1] * X.dtype.itemsize / 1e6,
        "stored_mb": stored_bytes / 1e6,
        "bandwidth_gbs": passes * stored_bytes / slope / 1e9 if slope > 0 else float("nan"),
        "backtracks_per_iter": bt_per_iter,
        "gram": float(use_gram),
        "timed_iters": float(timed),
        "timing_repeats": float(repeats),
    }


# -- skipping sizes predicted to exceed max_time ------------------------------------------

class _Track:
    """Cost model of the last size run on one (axis, estimator) line.

    ``scalable`` seconds grow with ``n * d``; ``floor`` seconds do not (the
    extra iterations the timing loop ran to make a short span >= 0.3 s).
    """

    def __init__(self):
        self.work = None
        self.size = None
        self.scalable = None
        self.floor = None
        self.measured = False
        self.skip_reason = None


def _make_run(axis, size, estimator, ctx, track, work, blas_threads):
    def run():
        if track.size == size and track.skip_reason:  # a repeat of a skipped size
            raise Skip(track.skip_reason)
        if track.work is not None and track.size != size:
            growth = work / track.work
            predicted = track.scalable * growth + track.floor
            if predicted > ctx.max_time:
                previous = track.scalable + track.floor
                track.skip_reason = (
                    f"predicted {predicted:.0f} s > max_time {ctx.max_time:g} s: the previous "
                    f"size {'took' if track.measured else 'would take'} {previous:.1f} s "
                    f"({track.scalable:.1f} s of it growing with n*d, which grows {growth:.1f}x)")
                # the next size is predicted from this prediction
                track.work, track.size, track.measured = work, size, False
                track.scalable *= growth
                raise Skip(track.skip_reason)
        t0 = time.perf_counter()
        metrics = _measure(axis, size, estimator, ctx.seed, ctx.device, blas_threads)
        wall = time.perf_counter() - t0
        loop_s, min_loop_s = _LAST_LOOP
        track.work, track.size, track.measured, track.skip_reason = work, size, True, None
        track.floor = loop_s - min_loop_s
        track.scalable = wall - track.floor
        return metrics
    return run


def _axes():
    """The axes to run: ``SCALE_AXES`` (comma-separated names among ``AXES`` and
    ``families``) when set, else all of them."""
    names = list(AXES) + ["families"]
    chosen = [a.strip() for a in os.environ.get("SCALE_AXES", "").split(",") if a.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(f"SCALE_AXES names unknown axes {unknown}; the axes are {names}")
    return chosen or names


def cases(ctx):
    device = "cuda" if ctx.device == "cuda" else "cpu"
    blas_threads = _blas_threads()
    axes = _axes()
    if "families" in axes and device == "cpu":
        yield from _families.cases(ctx, blas_threads, _blas_limits)
    for axis, (sizes, fixed) in AXES.items():
        if axis not in axes:
            continue
        tracks = {est: _Track() for est in ESTIMATORS}
        for size in sizes:
            counts, d = _dims(axis, size, np.random.default_rng(
                [ctx.seed, list(AXES).index(axis), size]))
            T, n = counts.shape[0], int(counts.sum())
            work = float(n) * d
            for estimator in ESTIMATORS:
                regressor = estimator == "L21Regressor"
                path = "gram" if regressor and _gram_path(counts, d) else "data"
                params = {
                    "axis": axis, "size": size, "n_tasks": T, "n_samples": n,
                    "n_features": d, "estimator": estimator,
                    "loss": "squared" if regressor else "logistic",
                    "path": path, "device": device,
                    "fit_solver": "working_set_fista" if d >= 200 else "fista",
                    "alpha": f"{ALPHA_FRACTION:g} * alpha_max",
                    "blas_threads": blas_threads if device == "cpu" else "n/a",
                }
                problem = f"{axis}: {SIZE_NAME[axis]}={size} ({fixed})"
                yield Case(problem, estimator,
                           _make_run(axis, size, estimator, ctx, tracks[estimator], work,
                                     blas_threads),
                           params)


# -- figures -----------------------------------------------------------------------

def _field(rec, key):
    """``key`` of a record: top level, in its params, or in its metrics."""
    if not isinstance(rec, dict):
        rec = getattr(rec, "__dict__", {})
    if key in rec:
        return rec[key]
    for sub in ("params", "metrics"):
        inner = rec.get(sub)
        if isinstance(inner, dict) and key in inner:
            return inner[key]
    return None


def summary(records):
    return _families.summary(records)


def figures(records, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    os.makedirs(out_dir, exist_ok=True)
    return _families.figure(records, out_dir) + _axes_figure(records, out_dir)


def _axes_figure(records, out_dir):
    import matplotlib.pyplot as plt

    points = {}  # (metric, axis, line) -> {size: [values]}
    gram = {}    # (axis, line) -> sizes solved on the Gram path
    for rec in records:
        if (_field(rec, "status") or "ok") != "ok":
            continue
        axis, estimator = _field(rec, "axis"), _field(rec, "estimator") or _field(rec, "solver")
        try:
            size = float(_field(rec, "size"))
        except (TypeError, ValueError):
            continue
        if axis not in AXES:
            continue
        device = _field(rec, "device") or "cpu"
        line = estimator if device == "cpu" else f"{estimator} ({device})"
        if _field(rec, "path") == "gram":
            gram.setdefault((axis, line), set()).add(size)
        for metric in ("time_per_iter_s", "peak_mb"):
            try:
                value = float(_field(rec, metric))
            except (TypeError, ValueError):
                continue
            if math.isfinite(value) and value > 0:
                points.setdefault((metric, axis, line), {}).setdefault(size, []).append(value)
    if not points:
        return []

    labels = {"time_per_iter_s": "time per FISTA iteration (s)",
              "peak_mb": "peak memory during fit (MB)"}
    fig, axes = plt.subplots(2, len(AXES), figsize=(5 * len(AXES), 8), squeeze=False)
    for col, (axis, (_, fixed)) in enumerate(AXES.items()):
        for row, metric in enumerate(labels):
            ax = axes[row][col]
            drawn = []
            for (m, a, line), by_size in sorted(points.items()):
                if m != metric or a != axis:
                    continue
                xs = sorted(by_size)
                ys = [float(np.median(by_size[x])) for x in xs]
                (handle,) = ax.loglog(xs, ys, "o-", label=line)
                g = [(x, y) for x, y in zip(xs, ys) if x in gram.get((axis, line), ())]
                if g:
                    ax.loglog(*zip(*g), "s", ms=11, mfc="none", color=handle.get_color())
                drawn.append((xs, ys))
            if not drawn:
                continue
            if gram:
                ax.plot([], [], "s", ms=11, mfc="none", color="grey",
                        label="Gram path (squared loss)")
            # slope-1 guide through the highest point at the largest size
            xs, ys = max(drawn, key=lambda d: (d[0][-1], d[1][-1]))
            x1, y1 = xs[-1], ys[-1]
            x0 = min(d[0][0] for d in drawn)
            ax.loglog([x0, x1], [y1 * x0 / x1, y1], ":", color="grey", label="linear growth")
            ax.set_xlabel(f"{SIZE_NAME[axis]} ({fixed})")
            ax.set_ylabel(labels[metric])
            ax.grid(True, which="both", alpha=0.3)
            if row == 0:
                ax.set_title(f"growing {axis}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "scale.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
