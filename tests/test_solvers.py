"""FISTA: cost per iteration, backtracking, restart, and the two squared-loss paths.

Two fits of one problem are compared through ``certificates``: every tolerance
between them follows from their certified duality gaps, the curvature of the
loss, and the rounding level of the dtype, never from a number that happened
to pass.
"""

import numpy as np
import pytest

import array_api_compat.numpy as xp
from mtlreg._data import TaskData, build_task_data, encode_tasks
from mtlreg.losses import DataFit, LogisticLoss, SquaredLoss, make_datafit, optimal_intercepts_at_zero
from mtlreg.penalties import L21, NORMS
from mtlreg.solvers import fista

from certificates import (EPS, assert_same_optimum, assert_same_solution, assert_stopping_rule,
                          estimator_problem, gap_threshold, objective_at_zero, rounding,
                          split_tasks, sum_rounding)


def _long_problem(n_tasks, n_per_task=25, d=8, seed=0, logistic=False):
    rng = np.random.default_rng(seed)
    n = n_tasks * n_per_task
    X = rng.standard_normal((n, d))
    tasks = np.repeat(np.arange(n_tasks), n_per_task)
    W = rng.standard_normal((n_tasks, d))
    y = np.sum(X * W[tasks], axis=1) + 0.3 * rng.standard_normal(n)
    if logistic:
        y = np.where(y > 0, 1.0, -1.0)
    labels, index = encode_tasks(tasks, n)
    return X, y, index, labels.shape[0]


class _CountingTaskData(TaskData):
    """TaskData that counts passes over X (calls of the two linear maps)."""

    passes = 0

    def linear(self, coef):
        type(self).passes += 1
        return super().linear(coef)

    def rlinear(self, R):
        type(self).passes += 1
        return super().rlinear(R)


def _count_passes(n_tasks, logistic):
    X, y, index, T = _long_problem(n_tasks, logistic=logistic)
    data = build_task_data(xp, X, y, index, T)
    data.__class__ = _CountingTaskData
    loss = LogisticLoss() if logistic else SquaredLoss()
    if not logistic:
        data.center()
    datafit = DataFit(loss, data, fit_intercept=logistic)
    L = datafit.lipschitz()
    b0 = optimal_intercepts_at_zero(loss, data) if logistic else None
    coef0 = xp.zeros((T, X.shape[1]))
    _CountingTaskData.passes = 0
    res = fista(datafit, L21(xp, 0.02), coef0, b0, tol=1e-14, max_iter=200, lipschitz=L,
                extrapolate=False)  # its passes: test_extrapolated_certificate_...
    return _CountingTaskData.passes, res


@pytest.mark.parametrize("logistic", [False, True])
def test_about_two_passes_over_X_per_iteration(logistic):
    """Exact accounting: F(0, b0) and the start point (one pass each), two per
    trial step (gradient at the extrapolated point, predictor at the new one;
    a rejected trial repeats both), one per gap check (every 10 iterations)."""
    passes, res = _count_passes(5, logistic)
    n_checks = len(res.history)
    assert res.n_iter >= 50 and n_checks == -(-res.n_iter // 10)
    assert passes == 2 + 2 * (res.n_iter + res.n_backtracks) + n_checks
    # and rejections are rare, as the step rule makes them: a rejection doubles
    # L, which then shrinks by 0.95 per iteration (logistic) or stays (squared),
    # so while the curvature along the iterates does not grow there are at
    # least log(1.9) / log(1 / 0.95) > 12 iterations between two rejections
    assert res.n_backtracks <= res.n_iter / 12 + 1


def test_backtracking_recovers_from_a_too_small_lipschitz_constant():
    X, y, index, T = _long_problem(4, logistic=True)
    loss = LogisticLoss()

    def run(lipschitz):
        data = build_task_data(xp, X, y, index, T)
        datafit = DataFit(loss, data, fit_intercept=True)
        b0 = optimal_intercepts_at_zero(loss, data)
        return fista(datafit, L21(xp, 0.02), xp.zeros((T, X.shape[1])), b0, tol=1e-12,
                     max_iter=5000, lipschitz=lipschitz)

    data = build_task_data(xp, X, y, index, T)
    L_bound = DataFit(loss, data, fit_intercept=True).lipschitz()
    small = run(L_bound * 1e-4)
    ref = run(None)
    assert small.converged and ref.converged
    assert small.lipschitz > L_bound * 1e-4  # backtracking raised it
    # each objective and gap: sums of n per-sample terms of d products each
    slack = 4 * sum_rounding(sum(X.shape), ref.scale)
    assert_same_optimum(small.objective, small.dual_gap, ref.objective, ref.dual_gap, slack)


@pytest.mark.parametrize("restart", [True, False])
def test_with_and_without_restart_reach_the_same_certified_optimum(restart):
    X, y, index, T = _long_problem(4)
    data = build_task_data(xp, X, y, index, T).center()
    datafit = DataFit(SquaredLoss(), data, fit_intercept=False)
    res = fista(datafit, L21(xp, 0.05), xp.zeros((T, X.shape[1])), None, tol=1e-12,
                max_iter=20000, restart=restart)
    # the stopping rule, at the solver's own objective and scale
    assert res.converged and 0 <= res.dual_gap <= gap_threshold(1e-12, res.objective)


def test_gram_and_data_paths_agree():
    X, y, index, T = _long_problem(4, n_per_task=30, d=6)
    results = []
    for use_gram in (False, True):
        data = build_task_data(xp, X, y, index, T).center()
        if use_gram:
            data.compute_gram()
        datafit = make_datafit(SquaredLoss(), data, False, use_gram)
        res = fista(datafit, L21(xp, 0.05), xp.zeros((T, X.shape[1])), None, tol=1e-13,
                    max_iter=5000)
        assert res.converged
        results.append(res)
    data_path, gram_path = results
    r = sum_rounding(sum(X.shape), data_path.scale)
    # squared loss, 30 samples per task in 6 features: strongly convex in W (the
    # intercepts eliminated: centred X_t, c_t = 1 / 30)
    Xs = [Xt - Xt.mean(axis=0) for Xt in split_tasks(X, index)]
    assert_same_solution(gram_path, data_path, Xs, loss="squared", weights=[1.0 / 30] * T,
                         fit_intercept=False, excess=(gram_path.dual_gap + 2 * r,
                                                      data_path.dual_gap + 2 * r),
                         slack=4 * r, coefficients=True)


def test_missing_pieces_give_a_readable_error():
    X, y, index, T = _long_problem(2)
    data = build_task_data(xp, X, y, index, T)
    with pytest.raises(TypeError, match="prox"):
        fista(DataFit(SquaredLoss(), data, False), object(), xp.zeros((T, X.shape[1])), None)


# -- working sets (n_features >= MIN_FEATURES) --------------------------------------------

from mtlreg.solvers import coordinate, working_set  # noqa: E402


@pytest.mark.parametrize("penalty", ["l1", "l21"])
@pytest.mark.parametrize("logistic", [False, True])
def test_working_set_reaches_the_plain_fista_optimum(penalty, logistic, monkeypatch):
    import mtlreg
    from mtlreg import alpha_max, stack_tasks

    rng = np.random.default_rng(3)
    d = working_set.MIN_FEATURES + 50
    Xs = [rng.standard_normal((n, d)) for n in (30, 45, 25)]
    w = np.zeros(d)
    w[:5] = 1.0
    ys = [X @ w + 0.1 * rng.standard_normal(X.shape[0]) for X in Xs]
    if logistic:
        ys = [np.where(y > 0, 1, 0) for y in ys]
    X, y, tasks = stack_tasks(Xs, ys)
    Est = {("l1", False): mtlreg.LassoRegressor, ("l21", False): mtlreg.L21Regressor,
           ("l1", True): mtlreg.LassoClassifier, ("l21", True): mtlreg.L21Classifier}[
        penalty, logistic]
    alpha = 0.2 * alpha_max(X, y, tasks, penalty=penalty,
                            loss="logistic" if logistic else "squared")
    calls = []
    real = working_set.working_set_fista

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    import mtlreg.problem
    monkeypatch.setattr(mtlreg.problem, "working_set_fista", spy)
    ws = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert calls, "the working-set solver was not used"
    monkeypatch.setattr(mtlreg.problem, "use_working_set", lambda *a: False)
    plain = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert ws.converged_ and plain.converged_
    # the certificate is on the full problem: it bounds the distance to the
    # (independently certified) plain-FISTA optimum
    index = encode_tasks(tasks, X.shape[0])[1]
    loss = "logistic" if logistic else "squared"
    r = sum_rounding(sum(X.shape), objective_at_zero(split_tasks(y, index), loss=loss))
    # d > n_t: the coefficients are not certified, the predictions on the
    # training samples are (the loss is strongly convex in them)
    assert_same_solution(ws, plain, **estimator_problem(plain, X, tasks=tasks),
                         excess=(ws.dual_gap_ + 2 * r, plain.dual_gap_ + 2 * r), slack=4 * r,
                         coefficients=False)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("group_norm", ["linf", "l2"])
@pytest.mark.parametrize("logistic", [False, True])
def test_dirty_working_sets_reach_the_plain_optimum(group_norm, logistic, compiled,
                                                    monkeypatch):
    """The dirty models' two parts are separable over the features: with many
    features they get working sets (both parts restricted to the same features,
    solved by coordinate descent with numba, else by FISTA), and the fit certifies
    the optimum that the whole problem's solver certifies."""
    import mtlreg
    import mtlreg.problem
    from mtlreg import alpha_max

    if compiled:
        pytest.importorskip("numba")
    else:
        monkeypatch.setattr(working_set._cd, "AVAILABLE", False)

    rng = np.random.default_rng(13)
    d, T = working_set.MIN_FEATURES + 50, 4
    X = rng.standard_normal((60, d))
    W = np.zeros((d, T))
    W[:4] = rng.standard_normal((4, T))
    W[4:6, 0] = 3.0  # a task-specific pair
    Y = X @ W + 0.1 * rng.standard_normal((60, T))
    loss = "logistic" if logistic else "squared"
    if logistic:
        Y = (Y > 0).astype(int)
    Est = mtlreg.DirtyClassifier if logistic else mtlreg.DirtyRegressor
    a = 0.2 * alpha_max(X, Y, penalty="l1inf" if group_norm == "linf" else "l21", loss=loss)
    b = 0.2 * alpha_max(X, Y, penalty="l1", loss=loss)
    calls = []
    real = working_set.working_set_fista
    monkeypatch.setattr(mtlreg.problem, "working_set_fista",
                        lambda *args, **kw: calls.append(1) or real(*args, **kw))
    ws = Est(alpha=a, beta=b, group_norm=group_norm, tol=1e-10).fit(X, Y)
    assert calls and ws.converged_
    assert (ws.solution_.raw.solver == "working-set coordinate descent") == compiled
    assert np.any(ws.coef_shared_ != 0) and np.any(ws.coef_specific_ != 0)
    monkeypatch.setattr(mtlreg.problem, "use_working_set", lambda *a: False)
    plain = Est(alpha=a, beta=b, group_norm=group_norm, tol=1e-10).fit(X, Y)
    assert plain.converged_
    assert_same_optimum(ws.objective_, ws.dual_gap_, plain.objective_, plain.dual_gap_)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("gram", [False, True])
def test_restrict_features_per_task_is_each_tasks_own_columns(shared, gram):
    """A working set per task: task t's restricted data are X_t[:, index_t] (and
    its Gram, X_t^T y_t and offsets the same restriction), in every layout."""
    rng = np.random.default_rng(5)
    d, T, k = 9, 3, 4
    if shared:
        X = rng.standard_normal((20, d))
        Y = rng.standard_normal((20, T))
        data = build_task_data(xp, X, Y)
        blocks = [(X, Y[:, t]) for t in range(T)]
    else:
        sizes = (7, 12, 5)
        X = rng.standard_normal((sum(sizes), d))
        y = rng.standard_normal(sum(sizes))
        index = np.repeat(np.arange(T), sizes)
        data = build_task_data(xp, X, y, index, T)
        starts = np.r_[0, np.cumsum(sizes)]
        blocks = [(X[a:b], y[a:b]) for a, b in zip(starts[:-1], starts[1:])]
    data.center(center_y=False)
    blocks = [(Xt - Xt.mean(axis=0), yt) for Xt, yt in blocks]  # what centring made of X
    if gram:
        data.compute_gram(keep_X=True)
    columns = np.stack([rng.permutation(d)[:k] for _ in range(T)])
    sub = data.restrict_features(xp.asarray(columns))
    for t in range(T):  # the offsets that recover the intercepts, restricted alike
        np.testing.assert_array_equal(sub.X_offset[t], np.asarray(data.X_offset)[t, columns[t]])
    W = rng.standard_normal((T, k))
    assert sub.n_features == k and not sub.shared
    for t, (Xt, yt) in enumerate(blocks):
        Xr = Xt[:, columns[t]]
        # the predictions of task t's rows (padding excluded by the weights)
        Z = sub.linear(xp.asarray(W))
        rows = np.flatnonzero(sub.expand(np.arange(T)) == t) if not shared and \
            sub.row_task is not None else [t]
        z = np.concatenate([Z[r][np.asarray(sub.weight[r]) > 0] for r in rows])
        np.testing.assert_allclose(z, Xr @ W[t], rtol=0,
                                   atol=sum_rounding(k, np.abs(Xr) @ np.abs(W[t])).max())
        if gram:
            np.testing.assert_allclose(sub.gram[t], Xr.T @ Xr, rtol=0,
                                       atol=sum_rounding(Xr.shape[0], (Xr * Xr).sum()))
            np.testing.assert_allclose(sub.Xty[t], Xr.T @ yt, rtol=0,
                                       atol=sum_rounding(Xr.shape[0], np.abs(Xr).T @ np.abs(yt)).max())


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("logistic", [False, True])
def test_lasso_working_sets_per_task_match_per_task_sklearn(shared, logistic, monkeypatch):
    """L1 is a sum over the entries: each task gets a working set of its own.
    The fit, through those sets, certifies the full problem: its gap bounds the
    distance of its predictions to those of one scikit-learn fit per task
    (their objective evaluated here, no certificate trusted)."""
    import mtlreg
    from mtlreg import alpha_max
    from sklearn.linear_model import Lasso, LogisticRegression

    rng = np.random.default_rng(7)
    d, T = working_set.MIN_FEATURES + 100, 4
    sizes = (40, 25, 60, 35)
    Xs = [rng.standard_normal((40 if shared else n, d)) * s
          for n, s in zip(sizes, (1.0, 3.0, 0.5, 1.0))]
    if shared:
        Xs = [Xs[0]] * T
    ys = []
    for Xt in Xs:  # each task its own support
        w = np.zeros(d)
        w[rng.choice(d, 4, replace=False)] = rng.standard_normal(4)
        z = Xt @ w
        ys.append(np.where(z + 0.3 * rng.standard_normal(len(z)) > 0, 1, 0) if logistic
                  else z + 0.1 * rng.standard_normal(len(z)))
    loss = "logistic" if logistic else "squared"
    if shared:
        X, y, tasks = Xs[0], np.stack(ys, axis=1), None
    else:
        X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    alpha = 0.2 * alpha_max(X, y, tasks, penalty="l1", loss=loss)
    per_task_sets = []  # (k, whether the tasks' sets differ) of each gather of a working set
    real_gather = working_set._gather

    def gather(xp_, coef, index):
        if index.ndim == 2 and index.shape[1] < d:
            per_task_sets.append(len({tuple(row) for row in np.asarray(index).tolist()}) > 1)
        return real_gather(xp_, coef, index)

    monkeypatch.setattr(working_set, "_gather", gather)
    Est = mtlreg.LassoClassifier if logistic else mtlreg.LassoRegressor
    est = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert est.converged_
    assert any(per_task_sets), "no per-task working sets that differ between the tasks"
    peers_coef, peers_intercept = [], []
    for Xt, yt in zip(Xs, ys):
        if logistic:
            peer = LogisticRegression(l1_ratio=1.0, C=1.0 / (alpha * len(yt)), solver="saga",
                                      tol=1e-12, max_iter=100000).fit(Xt, yt)
        else:
            peer = Lasso(alpha=alpha, tol=1e-14, max_iter=100000).fit(Xt, yt)
        peers_coef.append(np.ravel(peer.coef_))
        peers_intercept.append(float(np.ravel(peer.intercept_)[0]))

    peer = (np.stack(peers_coef), np.array(peers_intercept))
    problem = estimator_problem(est, X, y, tasks)
    r = sum_rounding(sum(X.shape), objective_at_zero(ys, loss=loss))
    peer_value = alpha * np.abs(peer[0]).sum()
    for t, (Xt, yt) in enumerate(zip(problem["Xs"], problem["ys"])):
        z = Xt @ peer[0][t] + peer[1][t]
        peer_value += problem["weights"][t] * (
            np.logaddexp(0.0, -yt * z).sum() if logistic else 0.5 * ((yt - z) ** 2).sum())
    # the certified lower bound on the optimum lies below the peer's objective
    lower = est.objective_ - est.dual_gap_
    assert peer_value >= lower - 2 * r, "the certificate is not a lower bound"
    assert_same_solution(est, peer, **problem,
                         excess=(est.dual_gap_ + 2 * r, peer_value - lower + 2 * r),
                         slack=4 * r, coefficients=False)


# -- issue 17: no stop floor relative to F(0) -------------------------------------------------------

@pytest.mark.parametrize("name, penalty", [
    ("L21Regressor", lambda W: np.linalg.norm(W, axis=1).sum()),  # W: n_features x T
    ("LassoRegressor", lambda W: np.abs(W).sum()),
    ("TraceRegressor", lambda W: np.linalg.svd(W, compute_uv=False).sum())])
def test_huge_objective_at_zero_does_not_buy_convergence(name, penalty):
    """MALSAR's layout: a bias column, no intercept, targets near 1e9, so F(0) is
    about 1e18 while the optimum is about 1e6.  The old rule stopped once the gap
    was below 1e-8 F(0) (L21 "converged" at 1.9e10, measured on another machine).
    Now converged_ means gap <= tol * objective, and otherwise a ConvergenceWarning
    says so.  Either way the certificate is sound: objective_ - dual_gap_ (a lower
    bound on the optimum) lies below the objective at a feasible point written
    here (per-task least squares)."""
    import warnings as _warnings

    from sklearn.exceptions import ConvergenceWarning

    import mtlreg

    r = np.random.default_rng(0)
    X = np.c_[np.ones(120), r.standard_normal((120, 5))]
    t = np.repeat(np.arange(4), 30)
    y = 1e9 + np.einsum("ij,ji->i", X[:, 1:], r.standard_normal((5, 4))[:, t]) \
        + 0.1 * r.standard_normal(120)
    alpha, tol = 1e-3, 1e-6
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always", ConvergenceWarning)
        est = getattr(mtlreg, name)(alpha=alpha, tol=tol, fit_intercept=False).fit(
            X, y, tasks=t)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert warned == (not est.converged_)
    assert_stopping_rule(est.converged_, est.dual_gap_, est.objective_, tol)
    W = np.stack([np.linalg.lstsq(X[t == k], y[t == k], rcond=None)[0] for k in range(4)])
    feasible = sum(np.sum((y[t == k] - X[t == k] @ W[k]) ** 2) / 60 for k in range(4)) \
        + alpha * penalty(W.T)
    assert est.objective_ - est.dual_gap_ <= feasible + rounding(feasible, est.objective_)


# -- ADMM on the Gram path (issue 16, item 3) ------------------------------------------------

def _ill_conditioned(seed=3, sizes=(30, 45, 25), d=5):
    """Per-task designs with feature scales 1e-2 .. 1e2 (a raw-School-like spread)."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, 2, d)
    Xs = [rng.standard_normal((n, d)) * scales + rng.uniform(-1, 1, d) * scales for n in sizes]
    W = rng.standard_normal((len(sizes), d)) / scales
    ys = [X @ W[t] + 0.5 * rng.standard_normal(len(X)) for t, X in enumerate(Xs)]
    return Xs, ys


@pytest.mark.parametrize("name", ["LassoRegressor", "L21Regressor", "TraceRegressor",
                                  "SparseTraceRegressor", "DirtyRegressor", "RobustRegressor",
                                  "RMTFLRegressor"])
def test_admm_certified_gap_is_a_true_bound(name):
    """The squared loss's Gram path solves by ADMM (``solver="auto"``; the Lasso by
    coordinate descent when numba is installed); its gap, built at the penalty's
    iterate ``Z`` as FISTA's, bounds the suboptimality: the objective lies within it
    of an independent CVXPY solve of the docstring's objective, on a design whose
    feature scales span four decades (where FISTA needs thousands of iterations)."""
    import cvxpy as cp

    import mtlreg
    from cvxpy_reference import assert_matches_reference, solve_reference

    Xs, ys = _ill_conditioned()
    X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    Est = getattr(mtlreg, name)
    probe = Est()
    amax = mtlreg.alpha_max(X, y, tasks, estimator=probe)
    params = {"alpha": 0.1 * amax}
    if "beta" in probe.get_params():
        params["beta"] = 0.3 * mtlreg.alpha_max(X, y, tasks, estimator=probe, param="beta")
    est = Est(tol=1e-9, max_iter=20000, **params).fit(X, y, tasks=tasks)
    lasso_cd = name == "LassoRegressor" and coordinate._cd_kernel.AVAILABLE
    assert est.solution_.raw.solver == ("coordinate descent" if lasso_cd else "admm")
    assert est.converged_
    d, T = Xs[0].shape[1], len(Xs)
    P, Q, b = cp.Variable((d, T)), cp.Variable((d, T)), cp.Variable(T)
    a, bt = params["alpha"], params.get("beta", 0.0)

    def rows(M):
        return cp.sum(cp.norm(M, 2, axis=1))

    def cols(M):
        return cp.sum(cp.norm(M, 2, axis=0))

    W, penalty = {
        "LassoRegressor": (P, a * cp.sum(cp.abs(P))),
        "L21Regressor": (P, a * rows(P)),
        "TraceRegressor": (P, a * cp.normNuc(P)),
        "SparseTraceRegressor": (P + Q, a * cp.normNuc(P) + bt * cp.sum(cp.abs(Q))),
        "DirtyRegressor": (P + Q, a * cp.sum(cp.norm(P, "inf", axis=1)) + bt * cp.sum(cp.abs(Q))),
        "RobustRegressor": (P + Q, a * cp.normNuc(P) + bt * cols(Q)),
        "RMTFLRegressor": (P + Q, a * rows(P) + bt * cols(Q))}[name]
    fit = sum(0.5 * cp.sum_squares(yt - Xt @ W[:, t] - b[t]) / len(yt)
              for t, (Xt, yt) in enumerate(zip(Xs, ys)))
    reference = solve_reference(cp.Problem(cp.Minimize(fit + penalty)))
    assert_matches_reference(est.objective_, est.dual_gap_, reference)


def test_admm_warm_start_at_the_solution_stays_there():
    """ADMM's scaled dual variable starts at ``-grad F(Z_0) / rho``: with ``Z_0`` optimal,
    ``(Z_0, U_0)`` is a fixed point of the iteration, which is non-expansive (in the
    ``(Z, rho U)`` norm), so from a point within ``1e-8`` of the optimum (relative; the
    gap of these fits rests at its rounding level near 2e-10 with NumPy 1.24 / SciPy
    1.10, so the cold fit asks 1e-8) the iterates stay that close, and a refit at
    ``tol=1e-6`` is certified at its first check (10 iterations).  Started with ``U = 0``, as before, the refit moved away from the
    solution first (50 iterations on the dirty model at tol=1e-9)."""
    import mtlreg

    Xs, ys = _ill_conditioned(seed=4)
    X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    for est in (mtlreg.TraceRegressor(alpha=0.05), mtlreg.RMTFLRegressor(alpha=0.05, beta=0.05)):
        est.set_params(tol=1e-8, max_iter=50000).fit(X, y, tasks=tasks)
        assert est.converged_ and est.solution_.raw.solver == "admm" and est.n_iter_ > 10
        est.set_params(warm_start=True, tol=1e-6).fit(X, y, tasks=tasks)
        assert est.converged_ and est.n_iter_ == 10


def test_admm_hands_over_to_fista_when_its_tail_crawls():
    """A draw of the property tests (two features scaled by 1e-2, sparse + low rank, no
    intercept): ADMM alone was at a relative gap of 3e-8 after 50,000 iterations with
    ``tol=1e-8``, where FISTA certifies it in 230.  ``solver="auto"`` runs ADMM for at
    most 2,000 iterations and then FISTA from ADMM's point; the fit converges, and its
    objective is within the two certified gaps of FISTA's alone."""
    from dataclasses import replace

    import mtlreg
    from mtlreg.problem import solve
    from test_properties import make_data

    case = {"sizes": (8, 13), "d": 2, "loss_scaling": "mean", "fit_intercept": False,
            "scale": 0.01, "offset": 0.0, "seed": 1, "dtype": "float64", "classifier": False}
    (X, y, tasks), _, _, _ = make_data(case)
    est = mtlreg.SparseTraceRegressor(alpha=3.1597019398427466e-04, beta=2.5299802400395604e-04,
                                      fit_intercept=False, tol=1e-8, max_iter=50000)
    est.fit(X, y, tasks=tasks)
    assert est.converged_ and est.solution_.raw.solver == "admm, then fista"
    assert est.n_iter_ > 2000
    problem = est.prepare(X, y, tasks)
    alone = solve(problem, replace(est.get_objective(problem), solver="fista"), tol=1e-8,
                  max_iter=50000)
    assert alone.converged
    assert_same_optimum(est.objective_, est.dual_gap_, alone.objective, alone.dual_gap)



# -- certificates at extrapolated points (issue 16, item 2) ------------------------------------

def test_extrapolation_recovers_the_limit_of_a_linear_sequence():
    """Iterates ``p_j = p* + sum_i lam_i^j E_i`` (coefficients and intercepts) with four
    orthonormal modes.  With ``a_i = sum_j c_j lam_i^j`` the combination is ``p* + sum_i
    lam_i a_i E_i`` and the combined difference ``sum_i (lam_i - 1) a_i E_i``, so
    ``||combination - p*|| <= max_i |lam_i / (lam_i - 1)| ||sum_j c_j u_j||``; and
    the weights minimize ``c^T (C + r I) c`` (``r = 1e-12 tr C``) over ``sum c = 1``,
    so ``c^T C c <= r ||c*||^2`` for the exact ``c*`` that cancels every mode."""
    from types import SimpleNamespace

    from mtlreg.solvers._fista_extrapolation import ExtrapolatedCheck, gram_anderson_weights

    rng = np.random.default_rng(3)
    lam = np.array([0.9, 0.6, 0.2, -0.5])
    E = np.linalg.qr(rng.standard_normal((15, 4)))[0].T  # orthonormal modes, coef + intercept
    p_star = rng.standard_normal(15)
    window = ExtrapolatedCheck(SimpleNamespace(xp=xp), None, 1e-6, None, has_b=True)
    for j in range(6):
        p = p_star + (lam**j) @ E
        full = window.record(SimpleNamespace(coef=np.reshape(p[:12], (3, 4)), intercept=p[12:]))
    assert full
    C = window._difference_gram()
    weights = gram_anderson_weights(C)
    coef, intercept = window._combine(weights)
    got = np.concatenate([coef.ravel(), intercept])
    U = np.array([np.concatenate([c.ravel(), b]) for c, b in window.diffs])
    combined = np.linalg.norm(weights @ U)
    size = np.abs(weights).sum() * (np.abs(p_star).max() + 1.0)
    assert np.linalg.norm(got - p_star) <= np.max(np.abs(lam / (lam - 1))) * combined + \
        sum_rounding(2 * 6 * 15, size)
    # c*: a_i = sum_j c_j lam_i^j = 0 for each mode (u_j = p_{j+1} - p_j, j = 0..4), and
    # sum_j c_j = 1
    A = np.vstack([lam[:, None] ** np.arange(5)[None, :], np.ones(5)])
    c_star = np.linalg.solve(A, np.r_[np.zeros(4), 1.0])
    r = 1e-12 * np.trace(C)
    assert combined**2 <= r * (c_star @ c_star) + sum_rounding(2 * 6 * 15, size) ** 2 + \
        sum_rounding(6 * 15, np.trace(C) * np.abs(weights).sum() ** 2)
    assert abs(weights.sum() - 1.0) <= 6 * EPS


def test_extrapolated_certificate_stops_sooner_and_is_the_gap_of_the_point_returned(
        monkeypatch):
    """``L21Regressor`` on the ``scale`` suite's families problem at 1,000 tasks (10
    samples, 20 features, a rank-3 truth on 10 features), where the residuals' dual
    point lags (460 iterations without the extrapolated checks, fewer with them, in
    one run here): FISTA stops sooner with them, and what it returns is certified:
    the reported gap is the duality gap recomputed at the returned point (to
    rounding) and meets the stopping rule; both fits reach the same optimum."""
    import importlib

    from benchmarks._scale_families import _problem
    from mtlreg import L21Regressor
    from mtlreg.problem import solver_inputs
    from mtlreg.solvers import duality_gap

    fista_module = importlib.import_module("mtlreg.solvers.fista")
    X, y, tasks = _problem(1000, 0)
    fits = {}
    for extrapolate in (False, True):
        monkeypatch.setitem(fista_module.fista.__kwdefaults__, "extrapolate", extrapolate)
        est = L21Regressor()
        problem = est.prepare(X, y, tasks)
        est.fit_problem(problem)
        res = est.solution_.raw
        assert res.solver == "fista" and res.converged
        assert res.dual_gap <= gap_threshold(est.tol, res.objective)
        # the gap at the returned point, recomputed from the solver's own pieces
        datafit, penalty = solver_inputs(problem, est.get_objective(problem))[:2]
        again = duality_gap(datafit, penalty, res.coef, res.intercept,
                            datafit.state(res.coef, res.intercept))
        assert abs(again - res.dual_gap) <= 4 * sum_rounding(sum(X.shape), res.scale)
        steps = [k for k, *_ in res.history]
        # an extrapolated point taken adds a second history entry at its iteration
        assert (len(steps) > len(set(steps))) == extrapolate
        fits[extrapolate] = est
    assert fits[True].n_iter_ < fits[False].n_iter_
    slack = 4 * sum_rounding(sum(X.shape), fits[False].solution_.raw.scale)
    assert_same_optimum(fits[True].objective_, fits[True].dual_gap_, fits[False].objective_,
                        fits[False].dual_gap_, slack)


# -- coordinate descent on the working sets' Gram subproblems (optional numba) -----------------

def test_anderson_weights_minimize_the_combined_difference():
    """Two differences: ``c u1 + (1 - c) u2`` is shortest at the closed-form ``c``."""
    from mtlreg.solvers.coordinate import anderson_weights

    u1, u2 = np.array([1.0, 2.0, -1.0]), np.array([-0.5, 1.0, 3.0])
    c = anderson_weights([u1, u2])
    diff = u1 - u2
    best = -(u2 @ diff) / (diff @ diff)
    np.testing.assert_allclose(c, [best, 1.0 - best], rtol=1e-9)
    assert anderson_weights([u1, 2.0 * u1]) is not None  # collinear: regularized, not singular


def _cd_problem(layout, form, monkeypatch, seed=11):
    """A small centred squared-loss problem (12 features, 3 tasks) in a layout:
    a shared design, per-task designs (one row per task, fewer samples than
    features in two tasks), the same in chunks of 4 samples, or a shared
    design restricted to each task's own 10 features; as Gram matrices or data."""
    from mtlreg.losses import DataFit, GramDataFit, SquaredLoss
    import mtlreg._data as data_module

    rng = np.random.default_rng(seed)
    d, T = 12, 3
    if layout in ("shared", "restricted"):
        X = rng.standard_normal((30, d)) * np.linspace(0.2, 3.0, d)
        data = build_task_data(xp, X, X[:, :3] @ rng.standard_normal((3, T))
                               + rng.standard_normal((30, T)))
    else:
        sizes = (8, 20, 14)
        chunk = 4 if layout == "chunked" else max(sizes)
        monkeypatch.setattr(data_module, "chunk_length", lambda counts, n_features: chunk)
        X = rng.standard_normal((sum(sizes), d)) * np.linspace(0.2, 3.0, d)
        index = np.repeat(np.arange(T), sizes)
        data = build_task_data(xp, X, X[:, 0] - X[:, 5] + rng.standard_normal(len(X)),
                               index, T)
        assert (data.task_slices is not None) == (layout == "chunked")
    data.center()
    if layout == "restricted":
        data = data.restrict_features(xp.asarray(np.sort(np.stack(
            [rng.permutation(d)[:10] for _ in range(T)]), axis=1)))
    if form == "gram":
        return GramDataFit(data.compute_gram(keep_X=True))
    return DataFit(SquaredLoss(), data, fit_intercept=False)


@pytest.mark.parametrize("layout", ["shared", "chunked"])
@pytest.mark.parametrize("form", ["gram", "data", "logistic"])
def test_per_task_dual_scaling_is_a_true_bound(form, layout, monkeypatch):
    """L1 with a per-task loss: each task's dual point may be scaled on its own.
    The gap so computed is never below the true suboptimality ``P(W) - P*`` (``P*``
    at most FISTA's objective certified to 1e-13), at points near and far from the
    optimum, and it is below the gap of one common scale at one of them at least (the
    per-task path is taken)."""
    from mtlreg.losses import DataFit, LogisticLoss
    from mtlreg.penalties import L1
    from mtlreg.solvers._fista_stopping import duality_gap

    datafit = _cd_problem(layout, "gram" if form == "gram" else "data", monkeypatch)
    intercept = None
    if form == "logistic":
        data = datafit.data
        data.Y = xp.where(data.Y > 0, 1.0, -1.0) * xp.astype(data.weight > 0, data.Y.dtype)
        datafit = DataFit(LogisticLoss(), data, fit_intercept=True)
        intercept = xp.zeros(3)
    T, d = 3, datafit.data.n_features
    penalty = L1(xp, 0.02)
    opt = fista(datafit, penalty, xp.zeros((T, d)), intercept, tol=1e-13, max_iter=100000)
    assert opt.converged
    rng = np.random.default_rng(8)
    smaller = 0
    for size in (1e-1, 1e-2, 1e-4):
        W = opt.coef + size * rng.standard_normal((T, d)) * (rng.uniform(size=T) < 0.7)[:, None]
        state = datafit.state(W, opt.intercept)
        objective = float(datafit.value(W, opt.intercept, state) + penalty.value(W))
        gap = duality_gap(datafit, penalty, W, opt.intercept, state)
        assert gap >= objective - opt.objective - rounding(objective)
        # each task's scaled dual point is feasible, and on the boundary when scaled
        V = np.asarray(datafit.dual(W, opt.intercept, state)[0])
        s_t = np.asarray(penalty.task_dual_scales(-V))
        top = np.max(np.abs(s_t[:, None] * V), axis=1)
        assert np.all(top <= 0.02 * (1 + 4 * EPS))
        np.testing.assert_allclose(top[s_t < 1], 0.02, rtol=4 * EPS)
        monkeypatch.setattr(L1, "task_dual_scales",
                            lambda self, V: xp.full(V.shape[0], self.dual_scale(V)))
        common = duality_gap(datafit, penalty, W, opt.intercept, state)
        monkeypatch.undo()
        smaller += gap < common  # (gap <= common by construction: the smaller is kept)
    assert smaller >= 1


@pytest.mark.parametrize("per_task", [False, True])
@pytest.mark.parametrize("layout", ["shared", "long", "chunked"])
def test_restricted_state_is_the_full_state(layout, per_task, monkeypatch):
    """``DataFit.restricted_state_is_full``: at coefficients that vanish outside a
    feature subset (shared, or each task's own), the restricted data fit's state is
    the full one (the linear predictor, intercepts included), within the rounding of
    the two products."""
    from mtlreg.losses import DataFit, LogisticLoss
    from mtlreg.solvers.working_set import _gather

    datafit = _cd_problem(layout, "data", monkeypatch)
    datafit = DataFit(LogisticLoss(), datafit.data, fit_intercept=True, intercept_scale=0.5)
    assert DataFit.restricted_state_is_full
    rng = np.random.default_rng(5)
    T, d = 3, datafit.data.n_features
    index = np.sort(np.stack([rng.permutation(d)[:4] for _ in range(T)]), axis=1) \
        if per_task else np.array([1, 4, 7, 8])
    coef_sub = rng.standard_normal((T, 4))
    coef = np.zeros((T, d))
    np.put_along_axis(coef, np.broadcast_to(index, (T, 4)), coef_sub, axis=1)
    intercept = rng.standard_normal(T)
    restricted = datafit.restrict_features(xp.asarray(index))
    assert np.array_equal(_gather(xp, xp.asarray(coef), xp.asarray(index)), coef_sub)
    full = datafit.state(xp.asarray(coef), intercept)
    part = restricted.state(xp.asarray(coef_sub), intercept)
    X, data = np.abs(np.asarray(datafit.data.X)), datafit.data
    size = (X @ np.abs(coef).T).T if data.shared else \
        np.einsum("rij,rj->ri", X, np.abs(data.expand(coef)))
    size = size + np.abs(np.asarray(data.expand(0.5 * intercept)))[:, None]
    assert np.all(np.abs(np.asarray(full) - np.asarray(part)) <= sum_rounding(4 * d, size))


CD_PENALTIES = ["l1", "l21", "l1inf", "sparse_l21", "dirty", "dirty_l2"]


def _cd_penalty(name, datafit, alpha, ridge=0.0):
    """A penalty the compiled epochs know, and the data fit it goes with: a norm, or
    a dirty model's two parts (L1,inf or L2,1 shared, L1 specific) on the parts' sum."""
    from mtlreg._parts import PartsPenalty, SumOfParts
    from mtlreg.penalties import L1, L1Inf

    if not name.startswith("dirty"):
        return NORMS[name](xp, alpha, ridge=ridge), datafit
    shared = (L1Inf if name == "dirty" else L21)(xp, 3 * alpha, ridge=ridge)
    return PartsPenalty(xp, (shared, L1(xp, alpha, ridge=ridge))), SumOfParts(datafit, 2)


def _read_design_in_place(monkeypatch):
    """Make the compiled epochs read the task data's own design (no copy, as on
    large designs) instead of a copy with each feature's samples contiguous."""
    from mtlreg.solvers import coordinate

    monkeypatch.setattr(coordinate, "COPY_SIZE", 0)


@pytest.mark.parametrize("layout", ["shared", "chunked"])
@pytest.mark.parametrize("in_place", [False, True])
def test_curvatures_of_either_design_layout(layout, in_place, monkeypatch):
    """``A[t, j] = sum metric x_j^2`` over each task's samples, from the compiled
    epochs' view of the design (in place or copied), equals NumPy's sum."""
    pytest.importorskip("numba")
    from mtlreg.solvers import _cd_kernel
    from mtlreg.solvers.coordinate import _design

    if in_place:
        _read_design_in_place(monkeypatch)
    data = _cd_problem(layout, "data", monkeypatch).data
    X3, cols, bounds, N = _design(data)
    assert cols is not in_place
    metric = np.random.default_rng(2).uniform(size=tuple(data.Y.shape)) * np.asarray(
        data.weight > 0)
    X = np.asarray(data.X)
    if data.shared:
        expected = metric @ (X * X)
    else:
        rows = np.einsum("ri,rij->rj", metric, X * X)
        expected = np.add.reduceat(rows, bounds[:-1], axis=0)
    got = _cd_kernel.curvatures(X3, cols, metric, bounds)
    # sums of nonnegative terms: each within n_t eps of its value (fastmath reorders)
    n = X.shape[-2] * (bounds[1:] - bounds[:-1])[:, None]
    assert np.all(np.abs(got - expected) <= n * EPS * expected)
    assert np.allclose(N, _cd_kernel.curvatures(X3, cols, np.ones_like(metric), bounds),
                       rtol=0, atol=0)


@pytest.mark.parametrize("form, in_place", [("gram", False), ("data", False), ("data", True)])
@pytest.mark.parametrize("penalty_name", CD_PENALTIES)
@pytest.mark.parametrize("layout", ["shared", "long", "chunked", "restricted"])
def test_coordinate_descent_reaches_the_fista_optimum(layout, penalty_name, form, in_place,
                                                      monkeypatch):
    """Compiled coordinate descent (with Anderson acceleration) and FISTA on the same
    problem, in Gram form or on the data (its design read in place or copied),
    ridge included, for every norm the epochs know and the dirty models' parts:
    both certify 1e-12, so their objectives agree within their gaps."""
    pytest.importorskip("numba")
    from mtlreg.solvers.coordinate import applies, coordinate_descent

    if in_place:
        _read_design_in_place(monkeypatch)

    penalty, datafit = _cd_penalty(penalty_name, _cd_problem(layout, form, monkeypatch),
                                   0.05, ridge=0.01)
    assert applies(datafit, penalty)
    zeros = xp.zeros((3 * getattr(datafit, "n_parts", 1), datafit.data.n_features))
    cd = coordinate_descent(datafit, penalty, zeros, None, tol=1e-12, max_iter=20000)
    fi = fista(datafit, penalty, zeros, None, tol=1e-12, max_iter=20000)
    assert cd.converged and fi.converged and cd.solver == "coordinate descent"
    assert_same_optimum(cd.objective, cd.dual_gap, fi.objective, fi.dual_gap)
    # reported at the returned point's own state (computed afresh, not the epochs')
    from mtlreg.solvers._fista_stopping import duality_gap
    state = datafit.state(cd.coef, None)
    assert cd.objective == float(datafit.value(cd.coef, None, state) + penalty.value(cd.coef))
    assert cd.dual_gap == duality_gap(datafit, penalty, cd.coef, None, state)


@pytest.mark.parametrize("compiled", [False, "gram", "data"])
def test_working_sets_with_and_without_the_compiled_path(compiled, monkeypatch):
    """Without numba (or with it switched off) the subproblems go to FISTA; with it,
    to coordinate descent on their Gram form or (Gram matrices too large) on the
    data; every way the fit certifies the same optimum."""
    import mtlreg
    import mtlreg.losses
    from mtlreg import alpha_max

    if compiled:
        pytest.importorskip("numba")
        if compiled == "data":
            monkeypatch.setattr(mtlreg.losses, "GRAM_FORM_RATIO", 0)
            real_data_epochs = coordinate._data_epochs
            monkeypatch.setattr(coordinate, "_data_epochs",
                                lambda *a: used.append("data form") or real_data_epochs(*a))
    else:
        monkeypatch.setattr(working_set._cd, "AVAILABLE", False)
    used = []
    for inner in ("fista", "coordinate_descent"):
        def spy(*args, _name=inner, _real=getattr(working_set, inner), **kwargs):
            used.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(working_set, inner, spy)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, working_set.MIN_FEATURES + 60))
    Y = X[:, :4] @ rng.standard_normal((4, 5)) + 0.1 * rng.standard_normal((40, 5))
    alpha = 0.1 * alpha_max(X, Y, penalty="l21")
    est = mtlreg.L21Regressor(alpha=alpha, tol=1e-10).fit(X, Y)
    assert est.converged_
    assert ("coordinate_descent" in used) == bool(compiled)
    assert ("data form" in used) == (compiled == "data")
    monkeypatch.setattr(mtlreg.problem, "use_working_set", lambda *a: False)
    plain = mtlreg.L21Regressor(alpha=alpha, tol=1e-10).fit(X, Y)
    assert_same_optimum(est.objective_, est.dual_gap_, plain.objective_, plain.dual_gap_)


@pytest.mark.parametrize("form", ["gram", "data", "logistic"])
@pytest.mark.parametrize("penalty_name", ["l1", "l21", "l1inf"])
def test_coordinate_descent_zeroes_a_feature_without_data(penalty_name, form):
    """A constant feature is all zeros once centred: the penalty alone acts on its
    coefficients, so a warm start with a non-zero coefficient there must go to 0
    (else the gap keeps its penalty term and never closes)."""
    pytest.importorskip("numba")
    from mtlreg.losses import DataFit, GramDataFit, LogisticLoss, SquaredLoss
    from mtlreg.penalties import L1
    from mtlreg.solvers.coordinate import coordinate_descent

    rng = np.random.default_rng(12)
    X = np.c_[rng.standard_normal((25, 5)), np.ones(25)]
    data = build_task_data(xp, X, X[:, :2] @ rng.standard_normal((2, 3))
                           + rng.standard_normal((25, 3)))
    data.center()
    datafit = GramDataFit(data.compute_gram(keep_X=True)) if form == "gram" else \
        DataFit(SquaredLoss(), data, fit_intercept=False)
    intercept = None
    if form == "logistic":
        data.Y = xp.where(data.Y > 0, 1.0, -1.0)
        datafit, intercept = DataFit(LogisticLoss(), data, fit_intercept=True), xp.zeros(3)
    penalty = NORMS[penalty_name](xp, 0.05)
    start = np.zeros((3, 6))
    start[:, 5] = 1.0  # the constant feature
    cd = coordinate_descent(datafit, penalty, start, intercept, tol=1e-10, max_iter=5000)
    assert cd.converged and np.all(cd.coef[:, 5] == 0.0)


def _logistic_cd_problem(layout, fit_intercept, monkeypatch):
    """:func:`_cd_problem`'s data with the targets' signs as labels (labels of 0 on
    the padding), as a logistic data fit with or without intercepts."""
    from mtlreg.losses import DataFit, LogisticLoss

    data = _cd_problem(layout, "data", monkeypatch).data
    data.Y = xp.where(data.Y > 0, 1.0, -1.0) * xp.astype(data.weight > 0, data.Y.dtype)
    return DataFit(LogisticLoss(), data, fit_intercept=fit_intercept, intercept_scale=0.5)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("penalty_name", CD_PENALTIES)
@pytest.mark.parametrize("layout", ["shared", "long", "chunked", "restricted"])
def test_prox_newton_reaches_the_fista_optimum(layout, penalty_name, fit_intercept, in_place,
                                               monkeypatch):
    """Proximal Newton coordinate descent on the logistic loss (intercepts as
    coordinates, ridge included; every norm the epochs know and the dirty models'
    parts; the design read in place or copied) and FISTA on the same problem: both
    certify 1e-12, so their objectives agree within their gaps; and its reported
    objective and gap are those of its own point (state computed afresh)."""
    pytest.importorskip("numba")
    from mtlreg.penalties import L1
    from mtlreg.solvers._fista_stopping import duality_gap
    from mtlreg.solvers.coordinate import applies, coordinate_descent

    if in_place:
        _read_design_in_place(monkeypatch)

    penalty, datafit = _cd_penalty(penalty_name,
                                   _logistic_cd_problem(layout, fit_intercept, monkeypatch),
                                   0.02, ridge=0.01)
    assert applies(datafit, penalty)
    zeros = xp.zeros((3 * getattr(datafit, "n_parts", 1), datafit.data.n_features))
    b0 = xp.zeros(3) if fit_intercept else None
    cd = coordinate_descent(datafit, penalty, zeros, b0, tol=1e-12, max_iter=20000)
    fi = fista(datafit, penalty, zeros, b0, tol=1e-12, max_iter=20000)
    assert cd.converged and fi.converged
    assert cd.solver == "proximal Newton coordinate descent"
    assert_same_optimum(cd.objective, cd.dual_gap, fi.objective, fi.dual_gap)
    state = datafit.state(cd.coef, cd.intercept)
    assert cd.objective == float(datafit.value(cd.coef, cd.intercept, state)
                                 + penalty.value(cd.coef))
    assert cd.dual_gap == duality_gap(datafit, penalty, cd.coef, cd.intercept, state)
    if fit_intercept:  # the intercepts moved off their start
        assert np.any(np.asarray(cd.intercept) != 0)


def test_a_task_without_loss_weight_goes_to_zero_from_a_warm_start():
    """A task of one class has no loss (its weight is 0; its intercept goes to
    infinity): the penalty alone acts on its coefficients, whose minimizer is 0.
    Coordinate descent must move them there from a warm start that is not 0 (and
    keep its state), else the gap keeps their penalty and the fit never stops."""
    pytest.importorskip("numba")
    import mtlreg
    from mtlreg import stack_tasks

    rng = np.random.default_rng(4)
    Xs = [rng.standard_normal((30, 5)) for _ in range(2)]
    ys = [(X[:, 0] > 0).astype(int) for X in Xs]
    ys[1][:] = 1  # one class
    est = mtlreg.LassoClassifier(alpha=0.02, tol=1e-8, max_iter=2000)
    problem = est.prepare(*stack_tasks(Xs, ys))
    est.fit_problem(problem, start=(np.ones((1, 2, 5)), np.zeros(2)))
    assert est.solution_.raw.solver == "proximal Newton coordinate descent"
    assert est.converged_ and est.n_iter_ < 2000
    assert np.all(np.asarray(est.solution_.raw.coef)[1] == 0.0)


@pytest.mark.parametrize("penalty_name", ["l1", "l21"])
def test_prox_newton_backtracks_a_step_that_overshoots(penalty_name, monkeypatch):
    """Far from the optimum (large features, a start far off) the second-order model
    overestimates the decrease: the full step is refused by the Armijo test and a
    shorter one taken, or no step passes and the majorizing model (curvature 1/4)
    takes over; every accepted step lowers the objective, and the fit still
    certifies the FISTA optimum."""
    pytest.importorskip("numba")
    from mtlreg.penalties import L1
    from mtlreg.solvers.coordinate import coordinate_descent

    datafit = _logistic_cd_problem("long", True, monkeypatch)
    datafit.data.X = datafit.data.X * 3.0
    penalty = (L1 if penalty_name == "l1" else L21)(xp, 0.02)
    start = 10.0 * np.asarray(np.random.default_rng(4).standard_normal((3, 12)))
    steps = []
    real = coordinate._armijo
    monkeypatch.setattr(coordinate, "_armijo", lambda *a: steps.append(real(*a)) or steps[-1])
    cd = coordinate_descent(datafit, penalty, start, xp.zeros(3), tol=1e-10, max_iter=20000)
    fi = fista(datafit, penalty, start, xp.zeros(3), tol=1e-10, max_iter=100000)
    assert cd.converged and fi.converged
    assert any(t is not None and t < 1 for t in steps)
    assert any(t is None and u is not None for t, u in zip(steps, steps[1:]))
    objectives = [h[1] for h in cd.history]
    assert all(b <= a + rounding(a) for a, b in zip(objectives, objectives[1:]))
    assert_same_optimum(cd.objective, cd.dual_gap, fi.objective, fi.dual_gap)


@pytest.mark.parametrize("gram", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty_name", ["l1", "l21"])
def test_whole_problems_use_coordinate_descent_and_match(penalty_name, loss, gram,
                                                         monkeypatch):
    """With few features, coordinate descent solves the whole problem where it is
    expected to win: proximal Newton for the logistic loss, and the squared loss's
    Lasso (on the data, or in Gram form when ``n_tasks * d <= n_samples``); the
    squared loss's L2,1 keeps its solver.  Each certifies the optimum that the
    solver it replaced certifies."""
    pytest.importorskip("numba")
    import mtlreg
    import mtlreg.problem
    from mtlreg import alpha_max, stack_tasks

    rng = np.random.default_rng(9)
    sizes = ((40, 1.0), (70, 3.0), (25, 0.3)) if gram else ((6, 1.0), (9, 3.0), (5, 0.3))
    Xs = [rng.standard_normal((n, 8)) * s for n, s in sizes]
    ys = [X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(len(X)) for X in Xs]
    if loss == "logistic":
        ys = [(y > 0).astype(int) for y in ys]
    X, y, tasks = stack_tasks(Xs, ys)
    Est = getattr(mtlreg, ("Lasso" if penalty_name == "l1" else "L21")
                  + ("Classifier" if loss == "logistic" else "Regressor"))
    alpha = 0.1 * alpha_max(X, y, tasks, penalty=penalty_name, loss=loss)
    cd = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    expected = {"logistic": "proximal Newton coordinate descent",
                "squared": "coordinate descent" if penalty_name == "l1" else None}[loss]
    if expected is None:
        assert "coordinate descent" not in cd.solution_.raw.solver
        return
    assert cd.solution_.raw.solver == expected
    monkeypatch.setattr(mtlreg.problem, "use_coordinate_descent", lambda *a: False)
    plain = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert plain.solution_.raw.solver != cd.solution_.raw.solver
    assert cd.converged_ and plain.converged_
    assert_same_optimum(cd.objective_, cd.dual_gap_, plain.objective_, plain.dual_gap_)


@pytest.mark.parametrize("name, n_t", [("LassoClassifier", 40), ("L21Classifier", 40),
                                       ("LassoRegressor", 16)])
def test_coordinate_descent_reads_a_large_design_in_place(name, n_t, monkeypatch):
    """On a design larger than ``COPY_SIZE`` the compiled epochs read the task data's
    own array: the solve allocates nothing of the design's size (its peak stays
    below the design's bytes), where the copy's peak shows that the measurement
    sees one."""
    pytest.importorskip("numba")
    import warnings

    import mtlreg
    from benchmarks.suites.memory import traced_peak

    rng = np.random.default_rng(3)
    T, d = 100 if n_t == 40 else 400, 50
    X = rng.standard_normal((T * n_t, d))
    tasks = np.repeat(np.arange(T), n_t)
    y = X[:, 0] - X[:, 1] + rng.standard_normal(T * n_t)
    y = (y > 0).astype(int) if name.endswith("Classifier") else y
    Est = getattr(mtlreg, name)
    peaks = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=20 stops before convergence
        Est(max_iter=20).fit(X[:5 * n_t], y[:5 * n_t], tasks=tasks[:5 * n_t])  # kernels
        for copy_size in (0, 2 ** 62):
            monkeypatch.setattr(coordinate, "COPY_SIZE", copy_size)
            est = Est(max_iter=20)
            problem = est.prepare(X, y, tasks)
            peaks[copy_size] = traced_peak(lambda: est.fit_problem(problem))
            assert "coordinate descent" in est.solution_.raw.solver
    size = problem.data.X.nbytes
    assert size >= X.nbytes  # the task data's chunked design (padding included)
    assert peaks[0] < size <= peaks[2 ** 62]
