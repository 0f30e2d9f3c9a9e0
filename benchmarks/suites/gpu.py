"""mtlreg on a CUDA GPU (CuPy) against mtlreg on the CPU (NumPy), side by side.

Models (squared loss, long format, ``fit_intercept=True``, ``loss_scaling="mean"``):

* ``l21``: ``L21Regressor(alpha = 0.1 alpha_max)``;
* ``trace``: ``TraceRegressor(alpha = 0.1 alpha_max)``;
* ``clustered``: ``ClusteredRegressor(alpha=0.1, beta=0.01, n_clusters=5)`` (``alpha``
  weighs the within-cluster spread, ``beta`` the norm of ``W``).

``alpha_max`` is the L2,1 / spectral norm of the gradient at ``W = 0`` (centred
data), computed on the host in float64 with one batched product (the value of
:func:`mtlreg.alpha_max`); both rows and both dtypes of a problem use the same
``alpha`` (metric ``alpha``).

Sizes (``T`` tasks of ``n_t`` samples each, ``d`` features, ``n = T n_t``):

============  =====  =====  ===  ======================================================
size          T      n_t    d    X (float64)
============  =====  =====  ===  ======================================================
``small``     100    200    50   8 MB: runs on any CPU in seconds
``medium``    1,000  1,000  200  1.6 GB
``large``     2,000  2,000  200  6.4 GB
============  =====  =====  ===  ======================================================

each in float64 and float32.  Data (fixed seed, host NumPy): ``X`` standard
normal, shared by the three models of a size; ``y_t = X_t w_t + 0.5 noise``
with a planted ``W`` of each model's structure: 10% of the features in the
support (``l21``), rank 5 (``trace``), 5 clusters of tasks with spread 0.1
around their centre (``clustered``); ``||w_t|| ~ 1``.  float32 cases use the
same data cast to float32.

Rows (``solver``): ``mtlreg-cpu``, NumPy arrays; ``mtlreg-cuda``, CuPy arrays
under ``sklearn.config_context(array_api_dispatch=True)``, so the timings
exclude transfers (the one-off host-to-device copy of ``X`` and ``y`` is
``h2d_s``).  One problem label per (model, size, dtype): the summary shows the
two rows as columns of one table.  ``mtlreg-cuda`` skips with the reason under
``--device cpu`` ("needs --device cuda"), when CuPy cannot be imported, when
CuPy sees no CUDA device, when ``SCIPY_ARRAY_API=1`` is not set (the runner
sets it for ``--device cuda``), or when the memory estimate below exceeds the
free device memory.  ``mtlreg-cpu`` skips when the estimate exceeds the
available host memory, or when its estimated time exceeds ``--max-time``:
the size-dependent work of the same model and dtype at the largest smaller
size measured in this run, scaled: ``prep_first_s + prep_s`` times the
growth of ``n d`` (of ``n d^2`` on the Gram path), plus ``seconds_to_tol +
150 seconds_per_iter`` (the 150 FISTA iterations of the slope) times the
growth of the per-iteration work (the larger of the growth of ``n d`` and,
for ``trace``, of ``T d min(T, d)`` (thin SVD) or, for ``clustered``, of
``T^3`` (eigh)); without a measured smaller size, the bytes per iteration
at 1 GB/s over ~300 iterations.  Fixed costs (warm-up fit, copy reference,
data generation) are left out.  A rough figure (within a factor of ~2 for
``l21 medium``, see ``benchmarks/results/gpu-cpu-only/README.md``).  GPU
rows are never skipped for time.

Memory estimate (``est_memory_gb`` param; checked before a row runs):
``4.5 x`` the bytes of ``X`` (input, the zero-padded task batch, the
centring temporaries; 3.1x measured with tracemalloc on top of the input) +
the ``T x d x d`` Gram batch (Gram path) + two copy-reference buffers.
``large`` float64: 4.5 x 6.4 + 0.64 + 2 x 0.64 = ~31 GB; ``large`` float32:
4.5 x 3.2 + 2 x 3.2 = ~21 GB; ``medium`` float64 ~8 GB.  All fit an 80 GB
H100.

Metrics of one row (each a single run; ``--repeat`` repeats it):

``prep_s``, ``prep_first_s``
    ``est.prepare(X, y, tasks)`` (what ``fit`` runs first, see
    :mod:`mtlreg.problem`): validation, the padded ``(T, n_t, d)``
    batch, centring, the Gram batch (Gram path), on the compute device; the
    second call, and the first (which also pays for fresh memory: on the
    development VM the first ``medium`` float64 call took 11 s, the next
    ones 3 s, the difference in elementwise passes over new pages; on a GPU,
    the first ``cudaMalloc`` of CuPy's pool).
``seconds_per_iter``
    Slope of the time of :func:`mtlreg.solvers.fista` on the problem exactly
    as ``fit`` builds it -- the prepared problem, ``est.get_objective(problem)``
    and the data fit, penalty, options and cold start that
    :func:`mtlreg.problem.solve` hands its solver
    (:func:`benchmarks._seam.solver_pieces`) -- against its iteration count:
    runs of ``K1 = 10`` and ``K2 = 60`` iterations at ``tol=0`` with no
    convergence check before the last iteration, ``(t(K2) - t(K1)) / 50``
    (``solve`` itself cannot switch the checks off); the device is synchronized
    (``cupy.cuda.Device().synchronize()``) before each timer starts and stops;
    best of 2 runs each when a ``K2`` run takes < 5 s.  One untimed ``K1`` run
    first (Lipschitz constant, kernel compilation).  Everything done once per
    solve cancels in the difference.  This is FISTA on all features: the
    estimator's ``fit`` of ``l21`` at ``d >= 200`` uses working sets, which
    ``seconds_to_tol`` includes.
``backtracks_per_iter``
    Rejected line-search steps per iteration in that span (NumPy's data path
    uses a line search; the Gram path, and any squared-loss path on a device,
    take a fixed step from the exact constant).
``seconds_to_tol``, ``n_iter``, ``converged``, ``objective``
    ``est.fit(X, y, tasks)`` from cold (``W = 0``, data preparation included)
    at ``tol=1e-6`` (float32: floored at ``100 eps = 1.2e-5``), ``max_iter=5000``,
    after an untimed warm-up fit on the first 10 tasks (kernel compilation).
``rel_objective_diff_vs_cpu``, ``speedup_per_iter_vs_cpu``, ``speedup_to_tol_vs_cpu``
    On the ``mtlreg-cuda`` row, when the ``mtlreg-cpu`` row of the same problem
    ran in the same process: ``|obj_gpu - obj_cpu| / |obj_cpu|`` (both fits
    certify a relative duality gap <= ``tol``, so it should be of the order of
    ``tol`` or below) and the CPU/GPU ratios of ``seconds_per_iter`` and
    ``seconds_to_tol``.
``bytes_per_iter``
    Model of the memory traffic of one iteration, from the sizes, not from
    the estimator: the Gram path (squared loss, ``T d <=`` padded samples,
    float64: the rule of :func:`mtlreg.problem.prepare`, cross-checked against
    the prepared problem's ``use_gram``, an error if they disagree) reads the
    ``T x d x d`` Gram batch once (``G_t w_t`` for the new point; the
    gradient at the extrapolated point is extrapolated from the cached
    ``G w``); the data path reads the padded ``(T, n_max, d)`` batch twice
    (``X_t^T r_t`` for the gradient, ``X_t w_t`` for the new point's state)
    plus once per rejected line-search step.  The O(T d) and O(n) vectors,
    the SVD (``trace``) and the ``T x T`` eigh (``clustered``) are not
    counted: a lower bound on the traffic.
``achieved_GBps``, ``copy_GBps``, ``bandwidth_fraction``
    ``bytes_per_iter / seconds_per_iter / 1e9``; the bandwidth of a copy of a
    buffer of the stored design's size (capped at 4 GiB on the device, 2 GiB
    on the host), counting read + write bytes: ``cupy.copyto`` timed with CUDA
    events (best per-copy time over batches of copies) on the GPU,
    ``np.copyto`` (best of >= 3) on the host; and their ratio.  Meaningful
    only when the stored design is much larger than the caches (not at
    ``small``: its 2 MB float64 Gram batch and 8 MB float32 task batch stay in
    cache, and small GPU kernels are launch-bound).  ``np.copyto`` is
    single-threaded, the CPU fit uses the BLAS threads (``blas_threads``:
    NumPy's BLAS pool).
``h2d_s``, ``h2d_GBps``, ``seconds_to_tol_numpy_io``, ``device_pool_gb``
    ``mtlreg-cuda`` only: the host-to-device copy of ``X`` and ``y`` (pageable
    host memory); the same tol fit with ``device="cuda"`` and NumPy arrays
    in and out (transfers included); the bytes CuPy's memory pool holds at
    the end of the tol fit (the pool is emptied just before it and keeps
    freed blocks, so this is >= the peak of live device memory during the
    ``seconds_to_tol`` fit, ``X`` and ``y`` included).

Cases run size by size (small first: the CPU time estimates need it), then
dtype, then model, CPU row before GPU row.  CPU rows use the BLAS thread pools
as they are (``--threads N`` limits them: on a small shared VM, two OpenBLAS
threads made the small CPU timings erratic, e.g. a 0.04 s ``prep_s`` took
1.7 s, so the CPU-only run in ``benchmarks/results/gpu-cpu-only`` used
``--threads 1``; on a GPU host the CPU baseline should use all its cores).
A ``device="cuda"`` fit that raises does not lose the row: its
``seconds_to_tol_numpy_io`` is left out and a ``RuntimeWarning`` in the
record says why.  Figure ``gpu_seconds_per_iter.png``: ``seconds_per_iter``
and ``bandwidth_fraction`` of each row, per problem.
"""

import gc
import math
import os
import time
import warnings

import numpy as np

from benchmarks._api import Case, Skip

DESCRIPTION = ("mtlreg on a CUDA GPU (CuPy) vs on the CPU (NumPy), side by side: L2,1, "
               "trace-norm and clustered regression, small/medium/large, float64/float32: "
               "time per iteration, time to tol, bandwidth as a fraction of a measured copy")

# name: (n_tasks, samples per task, n_features)
SIZES = {
    "small": (100, 200, 50),
    "medium": (1_000, 1_000, 200),
    "large": (2_000, 2_000, 200),
}
DTYPES = ("float64", "float32")
MODELS = ("l21", "trace", "clustered")
ESTIMATORS = {"l21": "L21Regressor", "trace": "TraceRegressor",
              "clustered": "ClusteredRegressor"}
PENALTY = {"l21": "l21", "trace": "trace"}  # mtlreg.alpha_max's names
SOLVERS = ("mtlreg-cpu", "mtlreg-cuda")

ALPHA_FRACTION = 0.1                      # l21, trace: alpha = 0.1 alpha_max
CLUSTER_ALPHA, CLUSTER_BETA, N_CLUSTERS = 0.1, 0.01, 5
NOISE = 0.5
TOL, MAX_ITER = 1e-6, 5000
K1, K2 = 10, 60                           # iteration budgets of the slope
NO_CHECK = 10 ** 9                        # check_every that never checks before max_iter
REPEAT_BELOW_S = 5.0                      # best of 2 when a K2 run is shorter
WARMUP_TASKS = 10
HOST_COPY_CAP, DEVICE_COPY_CAP = 2 * 2 ** 30, 4 * 2 ** 30
MEMORY_FACTOR = 4.5                       # x the bytes of X (see the module doc)
FALLBACK_GBPS, FALLBACK_ITERS = 1.0, 300  # CPU estimate without a measured smaller size


# -- sizes, layout and the memory model ------------------------------------------------------
def _layout(size, dtype):
    """``(gram_path, x_bytes, gram_bytes, input_bytes)`` from the sizes alone.

    Same rule as :func:`mtlreg.problem.prepare`: Gram when the loss is
    squared, ``T d <=`` the padded samples of the task batch, and the data
    float64.
    """
    from mtlreg._data import chunk_length

    T, n_t, d = SIZES[size]
    itemsize = np.dtype(dtype).itemsize
    counts = np.full(T, n_t)
    m = chunk_length(counts, d)
    padded = int((-(-counts // m)).sum()) * m
    gram = T * d <= padded and dtype == "float64"
    return gram, padded * d * itemsize, T * d * d * itemsize, T * n_t * d * itemsize


def _stored_bytes(size, dtype):
    gram, x_bytes, gram_bytes, _ = _layout(size, dtype)
    return gram_bytes if gram else x_bytes


def _memory_estimate(size, dtype, cap):
    gram, _, gram_bytes, input_bytes = _layout(size, dtype)
    return (MEMORY_FACTOR * input_bytes + (gram_bytes if gram else 0)
            + 2 * min(_stored_bytes(size, dtype), cap))


def _host_available():
    """Available host memory in bytes (``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


# -- data -------------------------------------------------------------------------------------
_DATA = {}  # the current size only: {"key", "X", "X32", "tasks", ("y", model), ("alpha", model)}


def _design(size, seed):
    key = (size, seed)
    if _DATA.get("key") != key:
        _DATA.clear()
        gc.collect()
        T, n_t, d = SIZES[size]
        rng = np.random.default_rng([seed, T, n_t, d])
        _DATA.update(key=key, X=rng.standard_normal((T * n_t, d)),
                     tasks=np.repeat(np.arange(T), n_t))
    return _DATA


def _planted(model, T, d, rng):
    """``W`` (T x d, rows ``w_t`` with ``||w_t|| ~ 1``) with the model's structure."""
    if model == "l21":
        k = max(1, d // 10)
        W = np.zeros((T, d))
        W[:, rng.choice(d, size=k, replace=False)] = rng.standard_normal((T, k)) / math.sqrt(k)
        return W
    if model == "trace":
        r = 5
        return rng.standard_normal((T, r)) @ rng.standard_normal((r, d)) / math.sqrt(r * d)
    centres = rng.standard_normal((N_CLUSTERS, d)) / math.sqrt(d)
    return (centres[np.arange(T) % N_CLUSTERS]
            + 0.1 * rng.standard_normal((T, d)) / math.sqrt(d))


def _arrays(model, size, dtype, seed):
    """Host ``X`` (in ``dtype``), ``y`` (``dtype``), ``tasks`` and ``alpha``."""
    data = _design(size, seed)
    T, n_t, d = SIZES[size]
    if ("y", model) not in data:
        rng = np.random.default_rng([seed, T, n_t, d, MODELS.index(model) + 1])
        W = _planted(model, T, d, rng)
        X3 = data["X"].reshape(T, n_t, d)
        y = np.matmul(X3, W[:, :, None]).reshape(-1) + NOISE * rng.standard_normal(T * n_t)
        data["y", model] = y
        if model in PENALTY:
            # gradient of the mean squared loss at W = 0 with optimal intercepts:
            # G_t = -X_t^T (y_t - mean y_t) / n_t (centring X as well changes nothing)
            yc = y.reshape(T, n_t)
            yc = yc - yc.mean(axis=1, keepdims=True)
            G = np.matmul(yc[:, None, :], X3)[:, 0, :] / n_t
            amax = (np.sqrt((G * G).sum(axis=0)).max() if model == "l21"
                    else np.linalg.norm(G, 2))
            data["alpha", model] = ALPHA_FRACTION * float(amax)
        else:
            data["alpha", model] = CLUSTER_ALPHA
    X = data["X"]
    if dtype == "float32":
        if "X32" not in data:
            data["X32"] = X.astype(np.float32)
        X = data["X32"]
    return X, data["y", model].astype(dtype), data["tasks"], data["alpha", model]


def _estimator(model, alpha, **params):
    import mtlreg

    cls = getattr(mtlreg, ESTIMATORS[model])
    if model == "clustered":
        return cls(alpha=CLUSTER_ALPHA, beta=CLUSTER_BETA, n_clusters=N_CLUSTERS, **params)
    return cls(alpha=alpha, **params)


# -- devices ----------------------------------------------------------------------------------
def _cuda():
    """The ``cupy`` module, or Skip with the reason."""
    try:
        import cupy
    except ModuleNotFoundError:
        raise Skip("CuPy is not installed (pip install -e '.[gpu]')") from None
    except Exception as exc:  # a broken install: missing CUDA libraries, ...
        raise Skip(f"CuPy cannot be imported: {type(exc).__name__}: {exc}") from None
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        raise Skip(f"CuPy found no usable CUDA driver: {type(exc).__name__}: {exc}") from None
    if n_devices < 1:
        raise Skip("CuPy sees no CUDA device")
    if os.environ.get("SCIPY_ARRAY_API") != "1":
        raise Skip("CuPy inputs need scikit-learn's array API dispatch, which needs "
                   "SCIPY_ARRAY_API=1 before SciPy is imported (python -m benchmarks run "
                   "--device cuda sets it)")
    return cupy


def _host_copy_gbps(nbytes):
    """Read + write bandwidth of ``np.copyto`` on a buffer of ``nbytes``."""
    n = max(int(nbytes) // 8, 1)
    src = np.ones(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page of dst
    best, spent, runs = math.inf, 0.0, 0
    while runs < 3 or (spent < 0.2 and runs < 50):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return 2 * n * 8 / best / 1e9


def _device_copy_gbps(cupy, nbytes):
    """Read + write bandwidth of ``cupy.copyto`` on a device buffer of ``nbytes``,
    timed with CUDA events: the best per-copy time over batches of copies
    (batches grow until one takes >= 20 ms)."""
    n = max(int(nbytes) // 8, 1)
    src = cupy.ones(n, dtype=cupy.float64)
    dst = cupy.empty_like(src)
    cupy.copyto(dst, src)  # warm-up
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    best_ms, reps = math.inf, 1
    for _ in range(8):
        start.record()
        for _ in range(reps):
            cupy.copyto(dst, src)
        stop.record()
        stop.synchronize()
        ms = cupy.cuda.get_elapsed_time(start, stop)
        best_ms = min(best_ms, ms / reps)
        if ms < 20.0 and reps < 4096:
            reps *= 4
    del src, dst
    return 2 * n * 8 / (best_ms * 1e-3) / 1e9


def _blas_threads():
    """Threads of NumPy's BLAS (its matmul / linalg do the CPU work), else the
    largest BLAS pool."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return math.nan
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    mine = [i for i in blas if "numpy" in os.path.basename(os.path.dirname(i["filepath"]))]
    counts = [i["num_threads"] for i in (mine or blas)]
    return float(max(counts)) if counts else math.nan


def _timed(fn, sync):
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


# -- skipping by time and memory --------------------------------------------------------------
_SCALED = {}   # (model, dtype, solver, size) -> (prep_s, seconds of the fits)
_RESULTS = {}  # (model, size, dtype, solver) -> metrics


def _work(model, size):
    """``(data work, structure work)`` of one iteration, in arbitrary units."""
    T, n_t, d = SIZES[size]
    structure = {"l21": 0, "trace": T * d * min(T, d), "clustered": T ** 3}[model]
    return T * n_t * d, structure


def _cpu_estimate(model, size, dtype):
    """``(seconds, how)``: estimated wall time of a CPU row (see the module doc)."""
    names = list(SIZES)
    for smaller in reversed(names[:names.index(size)]):
        parts = _SCALED.get((model, dtype, "mtlreg-cpu", smaller))
        if parts is not None:
            prep, rest = parts
            data, struct = _work(model, size)
            data0, struct0 = _work(model, smaller)
            growth = max(data / data0, struct / struct0 if struct0 else 0.0)
            prep_growth = data / data0 * (SIZES[size][2] / SIZES[smaller][2]
                                          if _layout(size, dtype)[0] else 1.0)
            seconds = prep * prep_growth + rest * growth
            return seconds, (f"the {smaller} case's {prep:.3g} s of preparation x "
                             f"{prep_growth:.3g} + {rest:.3g} s of fits x {growth:.3g}")
    gram, x_bytes, gram_bytes, _ = _layout(size, dtype)
    per_iter = (gram_bytes if gram else 2 * x_bytes) / (FALLBACK_GBPS * 1e9)
    return per_iter * FALLBACK_ITERS, (f"{FALLBACK_ITERS} iterations at {FALLBACK_GBPS:g} GB/s; "
                                       "no smaller case measured")


def _check_cpu(model, size, dtype, max_time):
    need = _memory_estimate(size, dtype, HOST_COPY_CAP)
    if _DATA.get("key", (None,))[0] != size:
        need += _layout(size, "float64")[3]  # the host data are not generated yet
    avail = _host_available()
    if avail is not None and need > avail:
        raise Skip(f"needs ~{need / 1e9:.1f} GB of host memory, {avail / 1e9:.1f} GB available")
    seconds, how = _cpu_estimate(model, size, dtype)
    if seconds > max_time:
        raise Skip(f"estimated ~{seconds:.0f} s ({how}) > --max-time {max_time:g} s")


def _check_device(cupy, size, dtype):
    cupy.get_default_memory_pool().free_all_blocks()
    free, total = cupy.cuda.runtime.memGetInfo()
    need = _memory_estimate(size, dtype, DEVICE_COPY_CAP)
    if need > 0.95 * free:
        raise Skip(f"needs ~{need / 1e9:.1f} GB of device memory, {free / 1e9:.1f} GB free "
                   f"of {total / 1e9:.1f} GB")


# -- one row ----------------------------------------------------------------------------------
def _slope(problem, objective, sync):
    """``(seconds_per_iter, backtracks_per_iter)`` of fista on the prepared problem
    and the estimator's objective (what ``solve`` hands its solver)."""
    from mtlreg.solvers import fista

    from .._seam import solver_pieces

    datafit, penalty, coef0, intercept0 = solver_pieces(problem, objective)
    options = dict(objective.solver_options)

    def run(k):
        return fista(datafit, penalty, coef0, intercept0,
                     **{**options, "tol": 0.0, "max_iter": k, "check_every": NO_CHECK})

    _timed(lambda: run(K1), sync)  # Lipschitz constant (cached), kernel compilation
    t1, r1 = _timed(lambda: run(K1), sync)
    t2, r2 = _timed(lambda: run(K2), sync)
    if t2 < REPEAT_BELOW_S:
        t1 = min(t1, _timed(lambda: run(K1), sync)[0])
        t2 = min(t2, _timed(lambda: run(K2), sync)[0])
    span = int(r2.n_iter) - int(r1.n_iter)
    return max(t2 - t1, 0.0) / span, (int(r2.n_backtracks) - int(r1.n_backtracks)) / span


def _measure(model, size, dtype, seed, solver, ctx):
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    T, n_t, d = SIZES[size]
    gram, x_bytes, gram_bytes, _ = _layout(size, dtype)
    cupy = None
    if solver == "mtlreg-cuda":
        if ctx.device != "cuda":
            raise Skip("needs --device cuda")
        cupy = _cuda()
        _check_device(cupy, size, dtype)
    else:
        _check_cpu(model, size, dtype, ctx.max_time)
    X, y, tasks, alpha = _arrays(model, size, dtype, seed)
    m = {"alpha": alpha}
    stored = gram_bytes if gram else x_bytes
    if cupy is None:
        sync, config = (lambda: None), {}
        Xa, ya = X, y
        m["copy_GBps"] = _host_copy_gbps(min(stored, HOST_COPY_CAP))
        m["blas_threads"] = _blas_threads()
    else:
        pool = cupy.get_default_memory_pool()
        sync, config = cupy.cuda.Device().synchronize, {"array_api_dispatch": True}
        m["copy_GBps"] = _device_copy_gbps(cupy, min(stored, DEVICE_COPY_CAP))
        pool.free_all_blocks()
        h2d, (Xa, ya) = _timed(lambda: (cupy.asarray(X), cupy.asarray(y)), sync)
        m["h2d_s"], m["h2d_GBps"] = h2d, (X.nbytes + y.nbytes) / h2d / 1e9
    try:
        with sklearn.config_context(**config):
            # warm-up on the first tasks: compiles the kernels of every step of fit
            w = WARMUP_TASKS * n_t
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                _estimator(model, alpha, tol=TOL, max_iter=MAX_ITER).fit(
                    Xa[:w], ya[:w], tasks=tasks[:w])

            est = _estimator(model, alpha, tol=0.0, max_iter=K2)
            m["prep_first_s"], problem = _timed(lambda: est.prepare(Xa, ya, tasks), sync)
            del problem
            gc.collect()
            m["prep_s"], problem = _timed(lambda: est.prepare(Xa, ya, tasks), sync)
            if bool(problem.use_gram) != gram:
                raise RuntimeError(
                    f"the bytes model assumed the {'Gram' if gram else 'data'} path, the "
                    f"estimator took the {'Gram' if problem.use_gram else 'data'} path: "
                    "update _layout to mtlreg.problem.prepare's rule")
            m["seconds_per_iter"], m["backtracks_per_iter"] = _slope(
                problem, est.get_objective(problem), sync)
            del est, problem
            gc.collect()
            if cupy is not None:
                pool.free_all_blocks()

            est = _estimator(model, alpha, tol=TOL, max_iter=MAX_ITER)
            m["seconds_to_tol"], _ = _timed(lambda: est.fit(Xa, ya, tasks=tasks), sync)
            m["n_iter"], m["converged"] = est.n_iter_, float(est.converged_)
            m["objective"] = est.objective_
            del est
        if cupy is not None:
            m["device_pool_gb"] = pool.total_bytes() / 1e9
            del Xa, ya
            gc.collect()
            pool.free_all_blocks()
            est = _estimator(model, alpha, tol=TOL, max_iter=MAX_ITER, device="cuda")
            try:
                m["seconds_to_tol_numpy_io"], _ = _timed(lambda: est.fit(X, y, tasks=tasks),
                                                         sync)
            except Exception as exc:  # keep the row's other metrics; the warning says why
                warnings.warn(f"device='cuda' fit with NumPy arrays failed: "
                              f"{type(exc).__name__}: {exc}", RuntimeWarning)
            del est
    finally:
        Xa = ya = None
        gc.collect()
        if cupy is not None:
            cupy.get_default_memory_pool().free_all_blocks()

    m["bytes_per_iter"] = gram_bytes if gram else (2.0 + m["backtracks_per_iter"]) * x_bytes
    m["achieved_GBps"] = (m["bytes_per_iter"] / m["seconds_per_iter"] / 1e9
                          if m["seconds_per_iter"] > 0 else math.nan)
    m["bandwidth_fraction"] = m["achieved_GBps"] / m["copy_GBps"]
    cpu = _RESULTS.get((model, size, dtype, "mtlreg-cpu"))
    if cupy is not None and cpu is not None:
        m["rel_objective_diff_vs_cpu"] = abs(m["objective"] - cpu["objective"]) / abs(
            cpu["objective"])
        if m["seconds_per_iter"] > 0:
            m["speedup_per_iter_vs_cpu"] = cpu["seconds_per_iter"] / m["seconds_per_iter"]
        m["speedup_to_tol_vs_cpu"] = cpu["seconds_to_tol"] / m["seconds_to_tol"]
    _RESULTS[model, size, dtype, solver] = m
    # the part that grows with the size, for the CPU time estimates of larger sizes
    _SCALED[model, dtype, solver, size] = (
        m["prep_first_s"] + m["prep_s"],
        m["seconds_to_tol"] + (3 * K1 + 2 * K2) * m["seconds_per_iter"])
    return m


def _problem_label(model, size, dtype):
    T, n_t, d = SIZES[size]
    return f"{model} {size} (T={T}, n_t={n_t}, d={d}) {dtype}"


def cases(ctx):
    for size in SIZES:
        T, n_t, d = SIZES[size]
        for dtype in DTYPES:
            gram = _layout(size, dtype)[0]
            for model in MODELS:
                alpha = (f"{ALPHA_FRACTION:g} alpha_max({PENALTY[model]})" if model in PENALTY
                         else f"alpha={CLUSTER_ALPHA:g}, beta={CLUSTER_BETA:g}, "
                              f"n_clusters={N_CLUSTERS}")
                for solver in SOLVERS:
                    cap = DEVICE_COPY_CAP if solver == "mtlreg-cuda" else HOST_COPY_CAP
                    params = {"model": model, "estimator": ESTIMATORS[model], "size": size,
                              "n_tasks": T, "n_t": n_t, "n_features": d, "dtype": dtype,
                              "path": "gram" if gram else "data", "penalty_setting": alpha,
                              "tol": TOL,
                              "est_memory_gb": round(_memory_estimate(size, dtype, cap) / 1e9,
                                                     2)}
                    yield Case(problem=_problem_label(model, size, dtype), solver=solver,
                               run=_runner(model, size, dtype, solver, ctx), params=params)


def _runner(model, size, dtype, solver, ctx):
    def run():
        return _measure(model, size, dtype, ctx.seed, solver, ctx)
    return run


# -- figure ------------------------------------------------------------------------------------
def figures(records, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ok = [r for r in records if r.get("status") == "ok"]
    problems = list(dict.fromkeys(r["problem"] for r in ok))
    if not problems:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(problems) + 2.0), sharey=True)
    width = 0.4
    for ax, metric, xlabel, log in (
            (axes[0], "seconds_per_iter", "seconds per FISTA iteration (log)", True),
            (axes[1], "bandwidth_fraction", "achieved / copy bandwidth", False)):
        for i, solver in enumerate(SOLVERS):
            ys, xs = [], []
            for j, p in enumerate(problems):
                vals = [r[metric] for r in ok if r["problem"] == p and r["solver"] == solver
                        and isinstance(r.get(metric), float) and math.isfinite(r[metric])]
                if vals:
                    ys.append(j + (i - 0.5) * width)
                    xs.append(min(vals) if metric == "seconds_per_iter" else max(vals))
            if xs:
                ax.barh(ys, xs, height=width, label=solver, color=f"C{i}")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
    axes[0].set_yticks(range(len(problems)))
    axes[0].set_yticklabels(problems, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle("mtlreg: CPU (NumPy) vs CUDA (CuPy); best of the repeats", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "gpu_seconds_per_iter.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
