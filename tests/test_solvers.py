"""FISTA: cost per iteration, backtracking, restart, and the two squared-loss paths.

Also the helpers other test modules use to compare two fits of one problem
(``from test_solvers import ...``): every tolerance between two fits follows
from their certified duality gaps, the curvature of the loss, and the
rounding level of the dtype, never from a number that happened to pass.
"""

import numpy as np
import pytest

import array_api_compat.numpy as xp
from mtlreg._data import TaskData, build_task_data, encode_tasks
from mtlreg.losses import DataFit, LogisticLoss, SquaredLoss, make_datafit, optimal_intercepts_at_zero
from mtlreg.penalties import L21
from mtlreg.solvers import fista


# -- comparing two fits of one problem -------------------------------------------------------

def rounding_allowance(dtype, n_samples, n_features, size):
    """How far a float evaluation of the objective, or of its duality gap, can
    be from the exact value at the same point: ``(n + d) eps size``.

    Both are sums of ``n`` per-sample terms, each from ``d`` products (or the
    Gram form's ``d^2`` products per task, whose pieces are of the same size),
    and near a solution their magnitudes add up to a few times ``size`` =
    ``F(0, b0)`` at most.  Higham's bound for a sum of ``n`` terms, ``n u
    sum |terms|`` with ``u = eps / 2``, gives ``(n + d) eps size`` with a
    factor 2 to spare.  For float32 inputs it also covers the rounding of the
    data themselves (centring, the weights ``1 / n_t``), which perturbs the
    objective by ``eps`` relative per term.
    """
    return (n_samples + n_features) * float(np.finfo(dtype).eps) * size


def objective_at_zero(y, task_index, loss):
    """``F(0, b0)`` with the optimal intercepts (mean loss per task), in float64.

    ``y``: targets, or labels in {0, 1} / {-1, +1} for ``loss="logistic"``.
    """
    total = 0.0
    for t in np.unique(task_index):
        yt = np.asarray(y[task_index == t], dtype=np.float64)
        if loss == "squared":
            total += 0.5 * np.mean((yt - yt.mean()) ** 2)
        else:  # binary entropy of the class frequency, in nats
            p = np.mean(yt > 0)
            total += -sum(q * np.log(q) for q in (p, 1 - p) if q > 0)
    return total


def assert_same_optimum(objective, gap, ref_objective, ref_gap, slack):
    """Two fits of one problem with optimum ``p*``: each objective lies in
    ``[p* - r, p* + gap + r]`` (its certificate; ``r`` the rounding of its
    evaluation), so each exceeds the other by at most its own gap.
    ``slack``: the sum of the rounding allowances of both objectives and
    both gaps."""
    assert gap is not None and ref_gap is not None, "no certified gap"
    assert gap >= 0 and ref_gap >= 0
    assert objective - ref_objective <= gap + slack, (
        f"objective {objective!r} exceeds the reference's {ref_objective!r} by "
        f"{objective - ref_objective:.3g}, more than its certified gap {gap:.3g} + {slack:.3g}")
    assert ref_objective - objective <= ref_gap + slack, (
        f"the reference's objective {ref_objective!r} exceeds {objective!r} by "
        f"{ref_objective - objective:.3g}, more than its certified gap {ref_gap:.3g} "
        f"+ {slack:.3g}")


def assert_within(value, bound, what):
    """``value <= bound``, saying what and by how much when not."""
    assert value <= bound, f"{what}: {value:.3g} > its bound {bound:.3g}"


def logistic_curvature(z):
    """``l''(z) = sigma(z) sigma(-z)`` of ``l(z) = log(1 + exp(-y z))``: even in
    ``z``, decreasing in ``|z|``."""
    e = np.exp(-np.abs(z))
    return e / (1.0 + e) ** 2


def curvature_weights(loss, weight, z, z_ref, ref_gap):
    """``kappa_i``: a lower bound on ``c_i l''`` between ``z_i`` (or
    ``z_ref_i``) and the optimum's linear predictor ``z*_i``.

    With ``f(z) = sum_i c_i l(y_i, z_i)`` and any convex penalty, optimality
    of ``z*`` gives ``F - p* >= f(z) - f(z*) - <grad f(z*), z - z*>`` (the
    penalty's own Bregman term is >= 0 at the optimum's subgradient, and the
    free intercepts' gradient is 0), which is ``>= 1/2 sum_i kappa_i (z_i -
    z*_i)^2``.  Squared loss: ``kappa = c``.  Logistic loss: ``l''`` is
    smallest at the largest ``|z|``; ``z*`` is located first from the tight
    reference: each sample's Bregman term is at most ``ref_gap / c_i`` and grows
    with ``|z*_i - z_ref_i|``, at least like ``delta^2 / 2 l''(|z_ref_i| +
    delta)``, so ``|z*_i - z_ref_i| < delta_i`` for any ``delta_i`` at which
    that exceeds ``ref_gap / c_i`` (the smallest on a fine grid).  A sample
    where none does (the loss is flat there) gets ``kappa_i = 0``.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if loss == "squared":
        return weight
    z, z_ref = np.abs(np.asarray(z, np.float64)), np.abs(np.asarray(z_ref, np.float64))
    grid = np.geomspace(1e-12, 50.0, 400)[:, None]
    budget = ref_gap / np.where(weight > 0, weight, 1.0)  # a sample of weight 0 gets kappa 0
    located = 0.5 * grid**2 * logistic_curvature(z_ref + grid) > budget
    found = np.any(located, axis=0)
    delta = grid[np.argmax(located, axis=0), 0]
    kappa = weight * logistic_curvature(np.maximum(z, z_ref + delta))
    return np.where(found, kappa, 0.0)


def weighted_distance(kappa, z, z_ref):
    """``(sum_i kappa_i (z_i - z_ref_i)^2)^1/2``."""
    return float(np.sqrt(np.sum(kappa * (np.asarray(z) - np.asarray(z_ref)) ** 2)))


def distance_bound(gap, ref_gap):
    """Bound on :func:`weighted_distance` between two fits: each is within
    ``sqrt(2 gap)`` of ``z*`` (see :func:`curvature_weights`)."""
    return float(np.sqrt(2.0 * gap) + np.sqrt(2.0 * ref_gap))


def loss_design(X, index, logistic):
    """The rows ``x_i`` the loss sees, in float64: centred per task (squared
    loss, intercept eliminated), or with a column of ones (logistic loss,
    free intercept: ``theta_t = (w_t, b_t)``)."""
    X = np.array(X, dtype=np.float64)
    if logistic:
        return np.hstack([X, np.ones((X.shape[0], 1))])
    for t in np.unique(index):
        X[index == t] -= X[index == t].mean(axis=0)
    return X


def coefficient_distance_bound(kappa, design, task_index, bound):
    """Bound on ``||theta - theta_ref||_F`` from a bound on their weighted
    distance: ``sum_i kappa_i (x_i . dtheta_t)^2 >= mu ||dtheta||^2`` with
    ``mu`` the smallest eigenvalue of the tasks' ``sum_i kappa_i x_i x_i^T``
    (``design``: the rows ``x_i`` the loss sees, with a column of ones when
    the intercept is a variable)."""
    mu = min(np.linalg.eigvalsh((design[task_index == t] * kappa[task_index == t, None]).T
                                @ design[task_index == t])[0]
             for t in np.unique(task_index))
    assert mu > 0, "no strong convexity: the coefficients are not determined"
    return bound / np.sqrt(mu)


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
    res = fista(datafit, L21(xp, 0.02), coef0, b0, tol=1e-14, max_iter=200, lipschitz=L)
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
    slack = 4 * rounding_allowance(np.float64, *X.shape, ref.scale)
    assert_same_optimum(small.objective, small.dual_gap, ref.objective, ref.dual_gap, slack)


@pytest.mark.parametrize("restart", [True, False])
def test_with_and_without_restart_reach_the_same_certified_optimum(restart):
    X, y, index, T = _long_problem(4)
    data = build_task_data(xp, X, y, index, T).center()
    datafit = DataFit(SquaredLoss(), data, fit_intercept=False)
    res = fista(datafit, L21(xp, 0.05), xp.zeros((T, X.shape[1])), None, tol=1e-12,
                max_iter=20000, restart=restart)
    # the stopping rule (fista.gap_threshold with tol = 1e-12 > 100 eps)
    assert res.converged and res.dual_gap <= 1e-12 * max(res.objective, res.scale)


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
    r = rounding_allowance(np.float64, *X.shape, data_path.scale)
    assert_same_optimum(gram_path.objective, gram_path.dual_gap, data_path.objective,
                        data_path.dual_gap, 4 * r)
    # squared loss, 30 samples per task in 6 features: strongly convex in W
    Xc = loss_design(X, index, logistic=False)
    kappa = np.full(X.shape[0], 1.0 / 30)
    bound = distance_bound(gram_path.dual_gap + 2 * r, data_path.dual_gap + 2 * r)
    assert_within(np.linalg.norm(gram_path.coef - data_path.coef),
                  coefficient_distance_bound(kappa, Xc, index, bound), "||W_gram - W_data||")


def test_missing_pieces_give_a_readable_error():
    X, y, index, T = _long_problem(2)
    data = build_task_data(xp, X, y, index, T)
    with pytest.raises(TypeError, match="prox"):
        fista(DataFit(SquaredLoss(), data, False), object(), xp.zeros((T, X.shape[1])), None)


# -- working sets (n_features >= MIN_FEATURES) --------------------------------------------

from mtlreg.solvers import working_set  # noqa: E402


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

    import mtlreg.base
    monkeypatch.setattr(mtlreg.base, "working_set_fista", spy)
    ws = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert calls, "the working-set solver was not used"
    monkeypatch.setattr(mtlreg.base, "use_working_set", lambda *a: False)
    plain = Est(alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert ws.converged_ and plain.converged_
    # the certificate is on the full problem: it bounds the distance to the
    # (independently certified) plain-FISTA optimum
    index = encode_tasks(tasks, X.shape[0])[1]
    loss = "logistic" if logistic else "squared"
    r = rounding_allowance(np.float64, *X.shape, objective_at_zero(y, index, loss))
    assert_same_optimum(ws.objective_, ws.dual_gap_, plain.objective_, plain.dual_gap_, 4 * r)
    # d > n_t: the coefficients are not certified, the predictions on the
    # training samples are (the loss is strongly convex in them)
    z_ws, z_plain = (est._linear_predictor(X, tasks) for est in (ws, plain))
    gap_ws, gap_plain = ws.dual_gap_ + 2 * r, plain.dual_gap_ + 2 * r
    kappa = curvature_weights(loss, 1.0 / np.bincount(index)[index], z_ws, z_plain, gap_plain)
    assert_within(weighted_distance(kappa, z_ws, z_plain), distance_bound(gap_ws, gap_plain),
                  "distance of the predictions")
