"""One numerical code path: NumPy and array-api-strict give the same solutions.

array-api-strict stands in for a GPU library on a CPU-only machine: its
``CPU_DEVICE`` in float64, and its second device (``device1``) in float32,
which catches arrays created on the wrong device and silent dtype upcasts.
"""

import numpy as np
import pytest
import sklearn

import mtlreg
from mtlreg._data import build_task_data, encode_tasks
from mtlreg._backend import get_namespace, to_numpy
from mtlreg.losses import LogisticLoss, SquaredLoss, make_datafit, optimal_intercepts_at_zero
from mtlreg.penalties import L1, L21, NuclearNorm, SquaredTraceNorm
from mtlreg.solvers import fista

xps = pytest.importorskip("array_api_strict")

DEVICES = [
    pytest.param("CPU_DEVICE", "float64", 1e-10, id="cpu-float64"),
    pytest.param("device1", "float32", 2e-5, id="device1-float32"),
]


def _problem(seed=0, n=60, d=5, n_tasks=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    tasks = rng.integers(0, n_tasks, n)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y, tasks


def _solve(xp_arrays, X, y, task_index, n_tasks, loss, penalty_cls, use_gram, dev=None, dtype=None):
    if xp_arrays is np:
        Xa, ya = X, y
    else:
        Xa = xp_arrays.asarray(X, dtype=dtype, device=dev)
        ya = xp_arrays.asarray(y, dtype=dtype, device=dev)
    xp = get_namespace(Xa)
    data = build_task_data(xp, Xa, ya, task_index, n_tasks)
    if loss.name == "squared":
        data.center()
        if use_gram:
            data.compute_gram()
    datafit = make_datafit(loss, data, loss.name == "logistic", use_gram)
    coef0 = xp.zeros((n_tasks, X.shape[1]), dtype=Xa.dtype, device=data.device)
    b0 = optimal_intercepts_at_zero(loss, data) if loss.name == "logistic" else None
    return fista(datafit, penalty_cls(xp, 0.05), coef0, b0, tol=1e-11, max_iter=5000)


@pytest.mark.parametrize("device_name, dtype_name, rtol", DEVICES)
@pytest.mark.parametrize("penalty_cls", [L1, L21, NuclearNorm, SquaredTraceNorm])
@pytest.mark.parametrize("loss, use_gram", [(SquaredLoss(), False), (SquaredLoss(), True),
                                            (LogisticLoss(), False)])
def test_solver_core_matches_numpy(device_name, dtype_name, rtol, penalty_cls, loss, use_gram):
    X, y, tasks = _problem()
    if loss.name == "logistic":
        y = np.where(y > 0, 1.0, -1.0)
    labels, index = encode_tasks(tasks, X.shape[0])
    ref = _solve(np, X, y, index, labels.shape[0], loss, penalty_cls, use_gram)
    dev = xps.Device(device_name)
    dtype = getattr(xps, dtype_name)
    res = _solve(xps, X, y, index, labels.shape[0], loss, penalty_cls, use_gram, dev, dtype)
    assert res.converged and ref.converged
    # results stay on the input's device and dtype
    assert res.coef.device == dev and res.coef.dtype == dtype
    if res.intercept is not None:
        assert res.intercept.device == dev and res.intercept.dtype == dtype
    np.testing.assert_allclose(res.objective, ref.objective, rtol=rtol)
    np.testing.assert_allclose(to_numpy(res.coef), ref.coef, rtol=0, atol=np.sqrt(rtol) * 10)


@pytest.mark.parametrize("device_name, dtype_name, rtol", DEVICES)
@pytest.mark.parametrize("Est, classifier", [
    (getattr(mtlreg, name), name.endswith("Classifier")) for name in mtlreg.__all__
    if isinstance(getattr(mtlreg, name), type)
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_estimators_follow_input_namespace(device_name, dtype_name, rtol, Est, classifier):
    """With array API dispatch on, fitted attributes and outputs follow X."""
    X, y, tasks = _problem(seed=1)
    if classifier:
        y = (y > 0).astype(np.float64)
    params = {"alpha": 0.05, "tol": 1e-10}
    if "Clustered" in Est.__name__:
        params["n_clusters"] = 1
    if "Graph" in Est.__name__:
        # the Laplacian leaves the tasks' mean model free: on separable labels
        # the logistic fit would have no minimizer without a ridge
        params["ridge"] = 0.01
    ref = Est(**params).fit(X, y, tasks=tasks)
    dev = xps.Device(device_name)
    dtype = getattr(xps, dtype_name)
    with sklearn.config_context(array_api_dispatch=True):
        Xa = xps.asarray(X, dtype=dtype, device=dev)
        ya = xps.asarray(y, dtype=dtype, device=dev)
        est = Est(**params).fit(Xa, ya, tasks=tasks)
        assert est.coef_.device == dev and est.coef_.dtype == dtype
        assert est.intercept_.device == dev and est.intercept_.dtype == dtype
        out = est.decision_function(Xa, tasks=tasks) if classifier else est.predict(Xa, tasks=tasks)
        assert out.device == dev and out.dtype == dtype
        np.testing.assert_allclose(to_numpy(out), ref._linear_predictor(X, tasks), rtol=0,
                                   atol=np.sqrt(rtol) * 10)
        if classifier:
            proba = est.predict_proba(Xa, tasks=tasks)
            assert proba.device == dev
            np.testing.assert_array_equal(to_numpy(est.predict(Xa, tasks=tasks)), ref.predict(X, tasks))
    np.testing.assert_allclose(est.objective_, ref.objective_, rtol=rtol)


def test_float32_numpy_stays_float32():
    X, y, tasks = _problem(seed=2)
    est = mtlreg.L21Regressor(alpha=0.05).fit(X.astype(np.float32), y.astype(np.float32), tasks=tasks)
    assert est.coef_.dtype == np.float32 and est.intercept_.dtype == np.float32
    assert est.predict(X.astype(np.float32), tasks=tasks).dtype == np.float32
