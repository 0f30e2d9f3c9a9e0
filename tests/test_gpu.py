"""The GPU path: ``device="cuda"``, CuPy inputs, and FISTA without host reads.

Two kinds of tests:

* run everywhere: the ``device`` parameter's errors, and its data movement
  with array-api-strict's second device standing in for the GPU (the
  resolver ``mtlreg.problem.compute_device`` is replaced by one returning
  array-api-strict and ``device1``): every estimator fits there, its
  fitted attributes come back as NumPy, and it reaches the NumPy fit's
  optimum; FISTA with a fixed step reads nothing from the device between two
  convergence checks;
* marked ``gpu``: the same comparisons on a real CUDA device through CuPy,
  skipped when CuPy or a GPU is missing.

Every comparison with the NumPy fit follows from the two fits' certified
duality gaps (``certificates``): both objectives are within their
gaps of the one optimum, and the loss' curvature turns the gaps into a bound
on the distance between the coefficients.  The device's run need not be the
NumPy run's operations (a fixed step on a device, a line search in NumPy;
another BLAS), so nothing closer than that is guaranteed.
"""

import importlib
import importlib.util

import numpy as np
import pytest
import sklearn
from sklearn.base import clone, is_classifier

import mtlreg
import mtlreg.problem as problem_module
from mtlreg._backend import get_namespace, to_numpy
from mtlreg._data import build_task_data, encode_tasks
from mtlreg.losses import SquaredLoss, make_datafit
from mtlreg.penalties import L21, NuclearNorm
from conftest import import_array_api_strict
from problems import equal_tasks as _problem
from certificates import (as_point, assert_same_optimum, assert_same_solution,
                          objective_at_zero, split_tasks, sum_rounding)

xps = import_array_api_strict()
fista_module = importlib.import_module("mtlreg.solvers.fista")
_StrictArray = type(xps.asarray(0.0))

ESTIMATORS = [getattr(mtlreg, name) for name in mtlreg.__all__
              if isinstance(getattr(mtlreg, name), type)]


def _estimator(Est, **params):
    extra = {"n_clusters": 1} if "Clustered" in Est.__name__ else {}
    return Est(tol=1e-10, **extra, **params)


def _solver_designs(X, index, logistic):
    """Per task, the rows the loss sees: X_t (logistic loss, free intercept), or
    X_t centred (squared loss: the intercept eliminated)."""
    Xs = split_tasks(np.asarray(X, dtype=np.float64), index)
    return Xs if logistic else [Xt - Xt.mean(axis=0) for Xt in Xs]


def _assert_same_fit(est, ref, X, y, tasks, dtype_name="float64"):
    """``est`` (fitted on a device, in ``dtype_name``) and ``ref`` (NumPy,
    float64, on the same data rounded to ``dtype_name``) reach the same
    optimum, as far as their certificates say: objectives within their gaps,
    coefficients within the distance the loss' curvature gives them (30 or
    more samples per task in at most 10 features: strongly convex)."""
    assert est.converged_ and ref.converged_
    index = encode_tasks(tasks, X.shape[0])[1]
    logistic = is_classifier(ref)
    loss = "logistic" if logistic else "squared"
    f0 = objective_at_zero(split_tasks(y, index), loss=loss)
    r = sum_rounding(sum(X.shape), f0, dtype_name)
    r64 = sum_rounding(sum(X.shape), f0)
    est_gap, ref_gap = est.dual_gap_, ref.dual_gap_
    # the squared loss's intercepts are eliminated: W on X centred per task
    eliminated = {} if logistic else {"intercept": None}
    point, other = as_point(est, gap=est_gap, **eliminated), as_point(ref, gap=ref_gap,
                                                                      **eliminated)
    intercept_rounding = 0.0
    if logistic:
        # the fitted intercept undoes the centring of X in dtype: b - mean(x) . w,
        # exact to (n_t + d) eps times its terms' size
        counts = np.bincount(index)
        size = np.abs(point.intercept) + np.array([
            np.max(np.abs(X[index == t]) @ np.abs(point.coef[t])) for t in range(len(counts))])
        intercept_rounding = float(np.linalg.norm(sum_rounding(counts + X.shape[1], size,
                                                               dtype_name)))
    Xs = _solver_designs(X, index, logistic)
    assert_same_solution(point, other, Xs, loss=loss, weights=[1.0 / len(Xt) for Xt in Xs],
                         fit_intercept=logistic, excess=(est_gap + 2 * r, ref_gap + 2 * r64),
                         slack=2 * r + 2 * r64, coefficients=True,
                         point_rounding=intercept_rounding)


def _device_arrays(est):
    """Fitted attributes holding a non-NumPy array (itself, or in a tuple)."""
    def on_device(value):
        if isinstance(value, tuple):
            return any(on_device(v) for v in value)
        return hasattr(value, "__dlpack__") and not isinstance(value, np.ndarray)
    return [name for name, value in vars(est).items() if name.endswith("_") and on_device(value)]


# ------------------------------------------------------------------ everywhere
def test_device_rejects_unknown_names():
    X, y, tasks = _problem(False)
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda' or 'cuda:N'"):
        mtlreg.L21Regressor(device="gpu").fit(X, y, tasks=tasks)


def test_device_cuda_without_cupy_says_what_is_missing():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed: the missing-CuPy error cannot be raised here")
    X, y, tasks = _problem(False)
    with pytest.raises(ImportError, match="needs CuPy and a CUDA GPU.*not installed"):
        mtlreg.L21Regressor(device="cuda").fit(X, y, tasks=tasks)


def test_device_cpu_refuses_arrays_of_another_library():
    X, y, tasks = _problem(False)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="device='cpu' was given with array_api_strict"):
            mtlreg.L21Regressor(device="cpu").fit(xps.asarray(X), xps.asarray(y),
                                                  tasks=tasks)


@pytest.fixture
def emulated_gpu(monkeypatch):
    """``device="cuda"`` resolves to array-api-strict's ``device1``; records moves."""
    moved = []
    target = xps.Device("device1")

    def compute_device(name):
        assert name in ("cuda", "cuda:0")
        return xps, target

    def move_to(xp, dev, x):
        moved.append(tuple(x.shape))
        return xp.asarray(x, device=dev)

    monkeypatch.setattr(problem_module, "compute_device", compute_device)
    monkeypatch.setattr(problem_module, "move_to", move_to)
    return moved


@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_device_parameter_solves_on_the_device_and_returns_numpy(Est, emulated_gpu):
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    est = _estimator(Est, device="cuda").fit(X, y, tasks=tasks)
    assert emulated_gpu == [X.shape]  # X moved once
    assert _device_arrays(est) == []
    assert isinstance(est.coef_, np.ndarray) and est.coef_.dtype == np.float64
    _assert_same_fit(est, ref, X, y, tasks)
    out = est.decision_function(X, tasks=tasks) if classifier else est.predict(X, tasks=tasks)
    assert isinstance(out, np.ndarray)
    # a warm start hands the host solution back to the device
    est.set_params(warm_start=True).fit(X, y, tasks=tasks)
    assert est.n_iter_ <= 10 and _device_arrays(est) == []


def test_device_parameter_in_model_selection(emulated_gpu):
    from mtlreg.model_selection import regularization_path

    X, y, tasks = _problem(False)
    path = regularization_path(mtlreg.L21Regressor(tol=1e-10, device="cuda"), X, y, tasks,
                               n_alphas=4)
    ref = regularization_path(mtlreg.L21Regressor(tol=1e-10), X, y, tasks, n_alphas=4)
    assert emulated_gpu == [X.shape]  # the data moved once for the whole path
    assert np.all(path.converged) and np.all(ref.converged)
    r = sum_rounding(sum(X.shape), objective_at_zero(split_tasks(y, tasks), loss="squared"))
    for args in zip(path.objectives, path.dual_gaps, ref.objectives, ref.dual_gaps):
        assert_same_optimum(*args, 4 * r)
    assert isinstance(path.coefs, np.ndarray)


def _count_host_reads(monkeypatch):
    """Count every read of an array-api-strict array by the host: conversions
    to Python scalars and DLPack exports (what ``to_numpy`` uses)."""
    reads = {"n": 0}
    for name in ("__float__", "__int__", "__bool__", "__index__", "__dlpack__"):
        original = getattr(_StrictArray, name)

        def counting(self, *args, _original=original, **kwargs):
            reads["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(_StrictArray, name, counting)
    return reads


def _reads_between_checks(monkeypatch, datafit, penalty, shape):
    """Host reads added by 20 more iterations (2 more checks), tol unreachable:
    at most 8 per check (the gap's pieces), where a read per iteration would
    add at least 20 on top of the checks' own."""
    xp = datafit.xp
    datafit.lipschitz()  # computed once, before the iterations
    counts = []
    for max_iter in (20, 40):
        reads = _count_host_reads(monkeypatch)
        res = fista_module.fista(datafit, penalty,
                                 xp.zeros(shape, dtype=datafit.data.dtype,
                                          device=datafit.data.device), None,
                                 tol=0.0, max_iter=max_iter, check_every=10)
        monkeypatch.undo()
        assert res.n_iter == max_iter
        counts.append(reads["n"])
    return counts[1] - counts[0]


def _device_and_numpy_fits(X, y, task_index, n_tasks, dtype_name, make, use_gram=True):
    out = {}
    for lib in (np, xps):
        dtype = getattr(lib, dtype_name)
        if lib is xps:
            dev = xps.Device("device1")
            Xa, ya = xps.asarray(X, dtype=dtype, device=dev), xps.asarray(y, dtype=dtype,
                                                                          device=dev)
        else:
            Xa, ya = X.astype(dtype), y.astype(dtype)
        xp = get_namespace(Xa)
        data = build_task_data(xp, Xa, ya, task_index, n_tasks)
        data.center()
        if use_gram:
            data.compute_gram()
        datafit, penalty = make(xp, make_datafit(SquaredLoss(), data, False, use_gram), data)
        out[lib.__name__] = (datafit, penalty)
    return out


@pytest.mark.parametrize("use_gram, dtype_name", [(True, "float64"), (False, "float64"),
                                                  (False, "float32")])
@pytest.mark.parametrize("penalty_cls", [L21, NuclearNorm])
def test_fista_reads_the_device_only_at_convergence_checks(monkeypatch, use_gram, dtype_name,
                                                           penalty_cls):
    """Squared loss on a device: fixed step (exact constant), momentum and
    restart on the device, so host reads happen at the checks only (counted
    on the arrays themselves: 20 more iterations add at most a few reads per
    check, not one per iteration); the result reaches the NumPy run's optimum."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    task_index = rng.integers(0, 4, 300)
    y = X @ rng.standard_normal(8) + rng.standard_normal(300)
    # correlated features and a weak penalty: 100 iterations do not converge
    slow_X = X @ np.diag(np.geomspace(1.0, 1e-3, 8)) @ np.linalg.qr(
        rng.standard_normal((8, 8)))[0]
    for data_X, alpha, count in ((slow_X, 1e-4, True), (X, 0.02, False)):
        fits = _device_and_numpy_fits(
            data_X, y, task_index, 4, dtype_name,
            lambda xp, datafit, data: (datafit, penalty_cls(xp, alpha)), use_gram)
        datafit, penalty = fits["array_api_strict"]
        assert datafit.lipschitz_is_exact
        if count:
            assert _reads_between_checks(monkeypatch, datafit, penalty, (4, 8)) <= 2 * 8
            continue
        tol = 1e-7 if dtype_name == "float32" else 1e-12
        res = fista_module.fista(datafit, penalty, xp_zeros(datafit, (4, 8)), None, tol=tol,
                                 max_iter=30000)
        ref = fista_module.fista(*fits["numpy"], np.zeros((4, 8), dtype=dtype_name), None,
                                 tol=tol, max_iter=30000)
        assert res.converged and ref.converged
        # the same data in the same dtype: objectives and gaps evaluated in it
        r = sum_rounding(sum(X.shape), ref.scale, dtype_name)
        assert_same_optimum(res.objective, res.dual_gap, ref.objective, ref.dual_gap, 4 * r)


def xp_zeros(datafit, shape):
    return datafit.xp.zeros(shape, dtype=datafit.data.dtype, device=datafit.data.device)


@pytest.mark.parametrize("structure", ["clustered", "caso", "graph"])
def test_smooth_structures_read_the_device_only_at_checks(monkeypatch, structure):
    """Clustered MTL, cASO and the graph term: the water-filling of M's
    eigenvalues and the term's value stay on the device (no host read per
    gradient); the result reaches the NumPy run's optimum."""
    from mtlreg.losses import SmoothlyPenalizedDataFit
    from mtlreg.penalties import Zero
    from mtlreg.penalties.aso import ASOPenalty, ClusteredPenalty
    from mtlreg.penalties.graph import GraphQuadratic

    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 6))
    task_index = rng.integers(0, 5, 400)
    y = X @ rng.standard_normal(6) + rng.standard_normal(400)
    laplacian = 5.0 * np.eye(5) - np.ones((5, 5))
    # correlated features and a tiny ridge: 100 iterations do not converge
    slow_X = X @ np.diag(np.geomspace(1.0, 1e-3, 6)) @ np.linalg.qr(
        rng.standard_normal((6, 6)))[0]
    for data_X, ridge, count in ((slow_X, 1e-8, True), (X, 0.01, False)):
        def make(xp, inner, data, ridge=ridge):
            term = {"clustered": lambda: ClusteredPenalty(xp, 0.1, 0.05, 2, ridge=ridge),
                    "caso": lambda: ASOPenalty(xp, 0.1, 0.05, 2, ridge=ridge),
                    "graph": lambda: GraphQuadratic(xp, 0.1, laplacian, ridge=ridge,
                                                    like=data.Xty)}[structure]()
            return SmoothlyPenalizedDataFit(inner, term), Zero(xp)

        fits = _device_and_numpy_fits(data_X, y, task_index, 5, "float64", make)
        datafit, penalty = fits["array_api_strict"]
        if count:
            assert _reads_between_checks(monkeypatch, datafit, penalty, (5, 6)) <= 2 * 8
            continue
        res = fista_module.fista(datafit, penalty, xp_zeros(datafit, (5, 6)), None, tol=1e-12,
                                 max_iter=30000)
        ref = fista_module.fista(*fits["numpy"], np.zeros((5, 6)), None, tol=1e-12,
                                 max_iter=30000)
        assert res.converged and ref.converged
        r = sum_rounding(sum(X.shape), ref.scale)
        assert_same_optimum(res.objective, res.dual_gap, ref.objective, ref.dual_gap, 4 * r)


# ------------------------------------------------------------------ on a GPU
def _cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy sees no CUDA device")
    except Exception as exc:  # no driver
        pytest.skip(f"no usable CUDA driver: {exc}")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("inputs", ["cupy", "device=cuda"])
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_gpu_fit_matches_numpy(Est, inputs):
    """CuPy arrays under array API dispatch (fitted attributes stay CuPy), or
    NumPy in and out with ``device="cuda"``: the objective of the NumPy fit."""
    cupy = _cupy()
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier, n=300, d=8)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    if inputs == "cupy":
        with sklearn.config_context(array_api_dispatch=True):
            est = _estimator(Est).fit(cupy.asarray(X), cupy.asarray(y), tasks=tasks)
            assert isinstance(est.coef_, cupy.ndarray)
            assert isinstance(est.intercept_, cupy.ndarray)
            assert isinstance(est.predict(cupy.asarray(X), tasks=tasks), cupy.ndarray)
    else:
        est = _estimator(Est, device="cuda").fit(X, y, tasks=tasks)
        assert _device_arrays(est) == []
    _assert_same_fit(est, ref, X, y, tasks)


@pytest.mark.gpu
@pytest.mark.parametrize("Est", [mtlreg.L21Regressor, mtlreg.TraceRegressor,
                                 mtlreg.ClusteredRegressor, mtlreg.L21Classifier],
                         ids=lambda c: c.__name__)
def test_float32_on_the_gpu(Est):
    cupy = _cupy()
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier, n=600, d=10)
    # the float64 reference solves the problem the GPU sees: the data in float32
    X, y = X.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    with sklearn.config_context(array_api_dispatch=True):
        est = clone(_estimator(Est)).set_params(tol=1e-5).fit(
            cupy.asarray(X, dtype=cupy.float32), cupy.asarray(y, dtype=cupy.float32),
            tasks=tasks)
    assert est.coef_.dtype == cupy.float32
    _assert_same_fit(est, ref, X, y, tasks, "float32")
