"""The GPU path: ``device="cuda"``, CuPy inputs, and FISTA without host reads.

Two kinds of tests:

* run everywhere: the ``device`` parameter's errors, and its data movement
  with array-api-strict's second device standing in for the GPU (the
  resolver ``mtlreg.base.compute_device`` is replaced by one returning
  array-api-strict and ``device1``): every estimator fits there, its
  fitted attributes come back as NumPy, and its objective equals the NumPy
  fit's; FISTA with a fixed step reads nothing from the device between two
  convergence checks;
* marked ``gpu``: the same comparisons on a real CUDA device through CuPy
  (objective rtol 1e-8 in float64), skipped when CuPy or a GPU is missing.
"""

import importlib
import importlib.util

import numpy as np
import pytest
import sklearn
from sklearn.base import clone, is_classifier

import mtlreg
import mtlreg.base as base
from mtlreg._backend import get_namespace, to_numpy
from mtlreg._data import build_task_data
from mtlreg.losses import SquaredLoss, make_datafit
from mtlreg.penalties import L21, NuclearNorm

xps = pytest.importorskip("array_api_strict")
fista_module = importlib.import_module("mtlreg.solvers.fista")

ESTIMATORS = [getattr(mtlreg, name) for name in mtlreg.__all__
              if isinstance(getattr(mtlreg, name), type)]


def _estimator(Est, **params):
    extra = {"n_clusters": 1} if "Clustered" in Est.__name__ else {}
    return Est(tol=1e-10, **extra, **params)


def _problem(classifier, seed=0, n=90, d=5):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    tasks = np.repeat(["a", "b", "c"], n // 3)
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    return X, ((y > 0).astype(int) if classifier else y), tasks


def _device_arrays(est):
    return [name for name, value in vars(est).items()
            if (name.endswith("_") or name == "_parts") and hasattr(value, "__dlpack__")
            and not isinstance(value, np.ndarray)]


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

    monkeypatch.setattr(base, "compute_device", compute_device)
    monkeypatch.setattr(base, "move_to", move_to)
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
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-10)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
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
    np.testing.assert_allclose(path.objectives, ref.objectives, rtol=1e-10)
    assert isinstance(path.coefs, np.ndarray)


def _count_host_reads(monkeypatch):
    reads = {"n": 0}
    as_float, to_host = fista_module.as_float, fista_module._to_host

    def counting_float(x):
        reads["n"] += 1
        return as_float(x)

    def counting_host(xp, v):
        reads["n"] += 1
        return to_host(xp, v)

    monkeypatch.setattr(fista_module, "as_float", counting_float)
    monkeypatch.setattr(fista_module, "_to_host", counting_host)
    return reads


@pytest.mark.parametrize("use_gram, dtype_name", [(True, "float64"), (False, "float64"),
                                                  (False, "float32")])
@pytest.mark.parametrize("penalty_cls", [L21, NuclearNorm])
def test_fista_reads_the_device_only_at_convergence_checks(monkeypatch, use_gram, dtype_name,
                                                           penalty_cls):
    """Squared loss on a device: fixed step (exact constant), momentum and
    restart on the device, so host reads happen at checks only; the
    iterates are those of the NumPy run (which reads every iteration)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    task_index = rng.integers(0, 4, 300)
    y = X @ rng.standard_normal(8) + rng.standard_normal(300)
    results = {}
    for lib in (np, xps):
        dtype = getattr(lib, dtype_name)
        dev = xps.Device("device1") if lib is xps else None
        Xa = lib.asarray(X, dtype=dtype, device=dev) if lib is xps else X.astype(dtype)
        ya = lib.asarray(y, dtype=dtype, device=dev) if lib is xps else y.astype(dtype)
        xp = get_namespace(Xa)
        data = build_task_data(xp, Xa, ya, task_index, 4)
        data.center()
        if use_gram:
            data.compute_gram()
        datafit = make_datafit(SquaredLoss(), data, False, use_gram)
        reads = _count_host_reads(monkeypatch)
        res = fista_module.fista(datafit, penalty_cls(xp, 0.02),
                                 xp.zeros((4, 8), dtype=Xa.dtype, device=data.device), None,
                                 tol=1e-7 if dtype_name == "float32" else 1e-12,
                                 max_iter=3000, check_every=10)
        monkeypatch.undo()
        results[lib.__name__] = (res, reads["n"], datafit)
    res, reads, datafit = results["array_api_strict"]
    assert datafit.lipschitz_is_exact
    n_checks = -(-res.n_iter // 10)
    assert res.n_iter >= 20
    assert reads <= 4 * n_checks + 4, (reads, res.n_iter)
    np_res, np_reads, _ = results["numpy"]
    assert np_reads > res.n_iter  # the NumPy run reads every iteration
    rtol = 1e-10 if dtype_name == "float64" else 1e-4
    np.testing.assert_allclose(res.objective, np_res.objective, rtol=rtol)


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
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_cupy_inputs_follow_the_device(Est):
    cupy = _cupy()
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier, n=300, d=8)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    with sklearn.config_context(array_api_dispatch=True):
        est = _estimator(Est).fit(cupy.asarray(X), cupy.asarray(y), tasks=tasks)
        assert isinstance(est.coef_, cupy.ndarray) and isinstance(est.intercept_, cupy.ndarray)
        out = est.predict(cupy.asarray(X), tasks=tasks)
        assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-8)
    np.testing.assert_allclose(to_numpy(est.coef_), ref.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
@pytest.mark.parametrize("Est", ESTIMATORS, ids=lambda c: c.__name__)
def test_device_cuda_matches_numpy(Est):
    _cupy()
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier, n=300, d=8)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    est = _estimator(Est, device="cuda").fit(X, y, tasks=tasks)
    assert _device_arrays(est) == []
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-8)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
@pytest.mark.parametrize("Est", [mtlreg.L21Regressor, mtlreg.TraceRegressor,
                                 mtlreg.ClusteredRegressor, mtlreg.L21Classifier],
                         ids=lambda c: c.__name__)
def test_float32_on_the_gpu(Est):
    cupy = _cupy()
    classifier = is_classifier(Est())
    X, y, tasks = _problem(classifier, n=600, d=10)
    ref = _estimator(Est).fit(X, y, tasks=tasks)
    with sklearn.config_context(array_api_dispatch=True):
        est = clone(_estimator(Est)).set_params(tol=1e-5).fit(
            cupy.asarray(X, dtype=cupy.float32), cupy.asarray(y, dtype=cupy.float32),
            tasks=tasks)
    assert est.coef_.dtype == cupy.float32
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=1e-4)
