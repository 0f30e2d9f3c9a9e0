"""One numerical code path: NumPy and array-api-strict give the same solutions.

array-api-strict stands in for a GPU library on a CPU-only machine: its
``CPU_DEVICE`` in float64, and its second device (``device1``) in float32,
which catches arrays created on the wrong device and silent dtype upcasts.

"The same solution" is what the certificates say: the NumPy reference is a
float64 fit of the same data (rounded to the device's dtype), each fit is
within its certified duality gap of the one optimum, and the loss' curvature
turns the two gaps into a bound on the distance between their coefficients or
predictions (``certificates``); the device's float32 evaluations
are checked against float64 ones at the same point to float32 rounding.
"""

import numpy as np
import pytest
import sklearn

import mtlreg
from mtlreg._data import encode_tasks
from mtlreg._backend import to_numpy
from mtlreg.penalties import L1, L21, NuclearNorm, SquaredTraceNorm
from mtlreg.problem import Objective, Part, prepare, solve
from mtlreg.solvers.admm import admm_gap
from mtlreg.solvers.fista import duality_gap
from conftest import import_array_api_strict
from problems import random_tasks as _problem
from certificates import (Point, assert_same_optimum, assert_same_solution, assert_within,
                          distance_bound, objective_at_zero, prediction_curvature, split_tasks,
                          sum_rounding, weighted_distance)

xps = import_array_api_strict()

DEVICES = [
    pytest.param("CPU_DEVICE", "float64", id="cpu-float64"),
    pytest.param("device1", "float32", id="device1-float32"),
]


def _representable(dtype_name, *arrays):
    """The arrays rounded to ``dtype``, in float64: the float64 reference then
    solves exactly the problem the device sees."""
    return tuple(np.asarray(a, dtype=dtype_name).astype(np.float64) for a in arrays)


def _solve(xp_arrays, X, y, tasks, loss, penalty_cls, use_gram, dev=None, dtype=None):
    """The seam on one namespace: prepare, then solve the penalty at 0.05."""
    if xp_arrays is np:
        Xa, ya = X, y
    else:
        Xa = xp_arrays.asarray(X, dtype=dtype, device=dev)
        ya = xp_arrays.asarray(y, dtype=dtype, device=dev)
    with sklearn.config_context(array_api_dispatch=True):
        problem = prepare(Xa, ya, tasks, loss=loss, gram=use_gram)
    assert problem.use_gram == (use_gram and loss == "squared")
    penalty = penalty_cls(problem.xp, 0.05)
    solution = solve(problem, Objective(parts=(Part(penalty),)), tol=1e-11, max_iter=5000)
    return solution.raw, problem.datafit, penalty


@pytest.mark.parametrize("device_name, dtype_name", DEVICES)
@pytest.mark.parametrize("penalty_cls", [L1, L21, NuclearNorm, SquaredTraceNorm])
@pytest.mark.parametrize("loss, use_gram", [("squared", False), ("squared", True),
                                            ("logistic", False)])
def test_solver_core_matches_numpy(device_name, dtype_name, penalty_cls, loss, use_gram):
    X, y, tasks = _problem()
    logistic = loss == "logistic"
    if logistic:
        y = np.where(y > 0, 1.0, -1.0)
    X, y = _representable(dtype_name, X, y)
    index = encode_tasks(tasks, X.shape[0])[1]
    ref, datafit, penalty = _solve(np, X, y, tasks, loss, penalty_cls, use_gram)
    dev = xps.Device(device_name)
    dtype = getattr(xps, dtype_name)
    res = _solve(xps, X, y, tasks, loss, penalty_cls, use_gram, dev, dtype)[0]
    assert res.converged and ref.converged
    # results stay on the input's device and dtype
    assert res.coef.device == dev and res.coef.dtype == dtype
    if res.intercept is not None:
        assert res.intercept.device == dev and res.intercept.dtype == dtype

    # The device's point, evaluated in float64 by the reference's data fit:
    # its objective and its certified gap on the same problem.
    W = to_numpy(res.coef).astype(np.float64)
    b = to_numpy(res.intercept).astype(np.float64) if res.intercept is not None else None
    state = datafit.state(W, b)
    objective = float(datafit.value(W, b, state) + penalty.value(W))
    gap = duality_gap(datafit, penalty, W, b, state)
    if res.solver == "admm":
        # ADMM reports the smaller of the residuals' gap and its W-step's (the same two
        # certificates, recomputed here in float64 at the device's W and Z)
        W_step = to_numpy(res.auxiliary[0]).astype(np.float64)
        gap = min(gap, admm_gap(datafit, penalty, W_step, W,
                                float(datafit.value(W, b, state))))
    # objectives and gaps: sums of n per-sample terms of d products each
    r64 = sum_rounding(sum(X.shape), ref.scale)
    r = sum_rounding(sum(X.shape), ref.scale, dtype_name)
    # the device computed its objective and its certificate right, to its rounding
    assert_within(abs(res.objective - objective), r + r64, "device objective vs float64")
    assert_within(gap - res.dual_gap, r + r64, "float64 gap above the device's certificate")
    # both points are within their certified gaps of the same optimum; the
    # coefficients too: the loss is strongly convex in (W, b) on these data
    # (about 20 samples per task in 5 features), so the gaps bound their distance.
    # The solver sees X centred per task (the squared loss's intercepts are
    # eliminated; the logistic loss's are free, for the centred X).
    Xs = [Xt - Xt.mean(axis=0) for Xt in split_tasks(X, index)]
    assert_same_solution(Point(W, b, objective, gap), ref, Xs, loss=loss,
                         weights=[1.0 / len(Xt) for Xt in Xs], fit_intercept=logistic,
                         excess=(gap + r64, ref.dual_gap + r64), slack=2 * r64,
                         coefficients=True)


def _prediction_rounding(dtype_name, X, index, coef, intercept, y):
    """Per sample: how far a ``dtype`` evaluation of ``x . w_t + b_t`` can be
    from the exact one, with ``b_t`` itself from task means of ``n_t``
    samples (``mean y - mean x . w``, or undoing the centring of X):
    ``sum_rounding`` of ``n_t + d`` terms of those sizes."""
    coef, intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, np.float64)
    counts = np.bincount(index)
    xw = np.abs(X) @ np.abs(coef).T  # (n, n_tasks): |x_i| . |w_t|
    size = np.empty(X.shape[0])
    for t in range(counts.shape[0]):
        rows = index == t
        size[rows] = (xw[rows, t] + abs(intercept[t]) + xw[rows, t].max()
                      + np.abs(y[rows]).max())
    return sum_rounding(counts[index] + X.shape[1], size, dtype_name)


@pytest.mark.parametrize("device_name, dtype_name", DEVICES)
@pytest.mark.parametrize("Est, classifier", [
    (getattr(mtlreg, name), name.endswith("Classifier")) for name in mtlreg.__all__
    if isinstance(getattr(mtlreg, name), type)
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_estimators_follow_input_namespace(device_name, dtype_name, Est, classifier):
    """With array API dispatch on, fitted attributes and outputs follow X."""
    X, y, tasks = _problem(seed=1)
    if classifier:
        y = (y > 0).astype(np.float64)
    X, y = _representable(dtype_name, X, y)
    # float32: the certified gap is itself computed in float32, to about (n_t + d) eps
    # relative (7.7e-6 here, 60 samples, 5 features); the stopping rule has no other
    # floor than 100 eps = 1.2e-5, which that rounding can miss (a Dirty fit stalled at
    # 1.8e-5 under OpenBLAS's Haswell kernel): ask for 1e-4, ten times that resolution
    params = {"alpha": 0.05, "tol": 1e-10 if dtype_name == "float64" else 1e-4}
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
        if classifier:
            proba = est.predict_proba(Xa, tasks=tasks)
            assert proba.device == dev
            labels_out = to_numpy(est.predict(Xa, tasks=tasks))
    assert est.converged_ and ref.converged_

    # objectives: both within their certified gaps of the same optimum
    index = encode_tasks(tasks, X.shape[0])[1]
    loss = "logistic" if classifier else "squared"
    f0 = objective_at_zero(split_tasks(y, index), loss=loss)
    r64 = sum_rounding(sum(X.shape), f0)
    r = sum_rounding(sum(X.shape), f0, dtype_name)
    assert_same_optimum(est.objective_, est.dual_gap_, ref.objective_, ref.dual_gap_,
                        2 * r + 2 * r64)
    # predictions on the training samples: the loss is strongly convex in them
    z, z_ref = to_numpy(out).astype(np.float64), ref._linear_predictor(X, tasks)
    coef, intercept = to_numpy(est.coef_), to_numpy(est.intercept_)
    a = _prediction_rounding(dtype_name, X, index, coef, intercept, y)
    a_ref = _prediction_rounding("float64", X, index, ref.coef_, ref.intercept_, y)
    gap, ref_gap = est.dual_gap_ + 2 * r, ref.dual_gap_ + 2 * r64
    kappa = prediction_curvature(loss, 1.0 / np.bincount(index)[index],
                                 [np.abs(z) + a, np.abs(z_ref) + a_ref], [None, ref_gap])
    bound = (distance_bound(gap, ref_gap) + weighted_distance(kappa, a, 0)
             + weighted_distance(kappa, a_ref, 0))
    assert_within(weighted_distance(kappa, z, z_ref), bound, "distance of the predictions")
    if classifier:
        # the same labels wherever the reference's margin exceeds the bound on
        # that sample's distance, kappa_i (z_i - z_ref_i)^2 <= bound^2
        # (most samples here, of both classes: a wrong label map would show)
        sure = kappa * z_ref**2 > bound**2
        expected = ref.predict(X, tasks)
        assert set(expected[sure]) == set(ref.classes_)
        np.testing.assert_array_equal(labels_out[sure], expected[sure])


def test_float32_numpy_stays_float32():
    X, y, tasks = _problem(seed=2)
    est = mtlreg.L21Regressor(alpha=0.05).fit(X.astype(np.float32), y.astype(np.float32), tasks=tasks)
    assert est.coef_.dtype == np.float32 and est.intercept_.dtype == np.float32
    assert est.predict(X.astype(np.float32), tasks=tasks).dtype == np.float32


def test_regularization_path_on_array_api_inputs():
    """The path's secant warm start mixes the NumPy grid with device arrays: it
    must stay on the device, and every point reach the NumPy path's optimum."""
    from mtlreg.model_selection import regularization_path

    X, y, tasks = _problem()
    ref = regularization_path(mtlreg.L21Regressor(tol=1e-10), X, y, tasks, n_alphas=4)
    with sklearn.config_context(array_api_dispatch=True):
        path = regularization_path(mtlreg.L21Regressor(tol=1e-10), xps.asarray(X),
                                   xps.asarray(y), tasks, alphas=ref.alphas)
    assert isinstance(path.coefs, type(xps.asarray(X))) and np.all(path.converged)
    r = sum_rounding(sum(X.shape), objective_at_zero(split_tasks(y, tasks), loss="squared"))
    for args in zip(path.objectives, path.dual_gaps, ref.objectives, ref.dual_gaps):
        assert_same_optimum(*args, 4 * r)
