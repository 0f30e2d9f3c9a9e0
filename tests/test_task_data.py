"""The batched task layouts against explicit per-task NumPy computations."""

import numpy as np
import pytest

import array_api_compat.numpy as xp
import mtlreg._data as data_module
from mtlreg._data import build_task_data, chunk_length, encode_tasks
from mtlreg.problem import drop_one_class_tasks
from mtlreg.losses import DataFit, LogisticLoss, SquaredLoss, optimal_intercepts_at_zero
from mtlreg.penalties import L21
from mtlreg.solvers import fista
from certificates import EPS, assert_same_solution, split_tasks, sum_rounding

# Two float64 evaluations of one sum of n products differ by at most
# sum_rounding(4 n, size), when size bounds the sum of the products' magnitudes
# and the factors themselves (means, centred values) are exact to n eps
# relative: one sum's bound for each evaluation, and as much again for the factors.


def _assert_close(actual, expected, tol):
    """``|actual - expected| <= tol`` elementwise (``tol`` broadcasts)."""
    excess = np.abs(np.asarray(actual) - np.asarray(expected)) / np.asarray(tol)
    assert np.all(excess <= 1.0), f"off by {excess.max():.3g} times the rounding bound"


def _unequal(seed=0, sizes=(1, 37, 5, 120, 9, 64), d=4):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    perm = rng.permutation(n)  # samples of a task are not contiguous
    tasks = np.repeat(np.arange(len(sizes)), sizes)[perm]
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    return X, y, tasks


@pytest.mark.parametrize("sum_loops", [False, True])
@pytest.mark.parametrize("chunk", [None, 1, 8, 120])
def test_linear_maps_and_task_sums_match_per_task_loops(chunk, sum_loops, monkeypatch):
    """Per-task sums by the padded gather and by one sum per task's row slice."""
    if chunk is not None:
        monkeypatch.setattr(data_module, "chunk_length", lambda counts, d: chunk)
    monkeypatch.setattr(data_module, "SUM_LOOP_SIZE", 0 if sum_loops else np.inf)
    X, y, tasks = _unequal()
    labels, index = encode_tasks(tasks, X.shape[0])
    T, d = labels.shape[0], X.shape[1]
    data = build_task_data(xp, X, y, index, T, loss_scaling="mean")
    rng = np.random.default_rng(1)
    coef = rng.standard_normal((T, d))

    Z = data.linear(coef)
    R = data.weight * (Z - data.Y)
    grad = data.rlinear(R)
    per_task_sum_of_y = data.sample_sum(data.Y)
    for t in range(T):
        Xt, yt = X[index == t], y[index == t]
        n_t = Xt.shape[0]
        mask = data.expand(xp.asarray(np.arange(T) == t))
        # predictions of task t's samples, in any order, and nothing else (the
        # sort moves no value by more than the largest difference of a pair)
        z_t = np.sort(np.asarray(Z)[np.asarray(mask)][np.asarray(data.weight)[np.asarray(mask)] > 0])
        xw = np.abs(Xt) @ np.abs(coef[t])
        _assert_close(z_t, np.sort(Xt @ coef[t]), sum_rounding(4 * d, xw.max()))
        residual_size = xw + np.abs(yt)
        _assert_close(grad[t], Xt.T @ (Xt @ coef[t] - yt) / n_t,
                      sum_rounding(4 * (n_t + d), np.abs(Xt).T @ residual_size / n_t))
        _assert_close(per_task_sum_of_y[t], yt.sum(), sum_rounding(4 * n_t, np.abs(yt).sum()))
    # every sample appears exactly once, with weight 1 / n_t (rounded: 1 + n eps per task)
    np.testing.assert_allclose(np.sum(data.weight), T, rtol=X.shape[0] * EPS)


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("chunk", [None, 3, 120])
def test_centring_and_gram_match_per_task_loops(chunk, loop, monkeypatch):
    """Both Gram paths (one product per task on its row slices, one per row and a
    gather), plain and weighted as the logistic metric uses them; the padding
    zeroed row by row (``loop``) or by a pass over all of X."""
    if chunk is not None:
        monkeypatch.setattr(data_module, "chunk_length", lambda counts, d: chunk)
    monkeypatch.setattr(data_module, "ZERO_ROWS_SIZE", 0 if loop else np.inf)
    monkeypatch.setattr(data_module.TaskData, "_gram_loops",
                        lambda self: loop and self.task_slices is not None)
    X, y, tasks = _unequal(seed=2)
    labels, index = encode_tasks(tasks, X.shape[0])
    T = labels.shape[0]
    data = build_task_data(xp, X, y, index, T).center().compute_gram(keep_X=True)
    assert (data.task_slices is None) == (chunk == 120)  # 120: one row per task
    D = np.random.default_rng(3).uniform(size=data.Y.shape)
    weighted = data.gram_matrices(xp.asarray(D))
    assert np.all(np.asarray(data.X)[np.asarray(data.weight) == 0] == 0)  # the padding
    row_task = np.arange(T) if data.row_task is None else np.asarray(data.row_task)
    for t in range(T):
        Xt, yt = X[index == t], y[index == t]
        n_t = Xt.shape[0]
        Xc, yc = Xt - Xt.mean(0), yt - yt.mean()
        _assert_close(data.X_offset[t], Xt.mean(0), sum_rounding(4 * n_t, np.abs(Xt).mean(0)))
        _assert_close(data.y_offset[t], yt.mean(), sum_rounding(4 * n_t, np.abs(yt).mean()))
        # centred values are at most |x| + |mean x| <= 2 max |x|: sums of n_t products
        x_max, y_max = 2 * np.abs(Xt).max(0), 2 * np.abs(yt).max()
        _assert_close(data.gram[t], Xc.T @ Xc,
                      sum_rounding(4 * n_t, n_t * np.outer(x_max, x_max)))
        _assert_close(data.Xty[t], Xc.T @ yc, sum_rounding(4 * n_t, n_t * x_max * y_max))
        _assert_close(data.yty[t], yc @ yc, sum_rounding(4 * n_t, n_t * y_max**2))
        # the same sums weighted by D (in [0, 1)), from the layout's own cells of task t
        cells = np.reshape(data.X[row_task == t], (-1, X.shape[1]))
        D_t = np.reshape(D[row_task == t], (-1,))
        _assert_close(weighted[t], (cells.T * D_t) @ cells,
                      sum_rounding(4 * n_t, n_t * np.outer(x_max, x_max)))


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("in_order", [True, False])
def test_gram_form_task_by_task_matches_per_task_loops(in_order, center):
    """``build_gram_task_data`` (views of a task-sorted X, or a gather per task) against
    per-task NumPy sums, within their rounding bounds; no per-sample array is kept."""
    from mtlreg._data import build_gram_task_data

    X, y, tasks = _unequal(seed=4)
    labels, index = encode_tasks(tasks, X.shape[0])
    if in_order:
        order = np.argsort(index, kind="stable")
        X, y, index = X[order], y[order], index[order]
    T = labels.shape[0]
    data = build_gram_task_data(xp, X, y, index, T, center=center)
    assert data.X is None and data.Y is None and data.weight is None
    assert (data.X_offset is None) == (not center)
    for t in range(T):
        Xt, yt = X[index == t], y[index == t]
        n_t = Xt.shape[0]
        # centred values are at most |x| + |mean x| <= 2 max |x|: sums of n_t products
        x_max, y_max = 2 * np.abs(Xt).max(0), 2 * np.abs(yt).max()
        if center:
            _assert_close(data.X_offset[t], Xt.mean(0), sum_rounding(4 * n_t, np.abs(Xt).mean(0)))
            _assert_close(data.y_offset[t], yt.mean(), sum_rounding(4 * n_t, np.abs(yt).mean()))
            Xt, yt = Xt - Xt.mean(0), yt - yt.mean()
        _assert_close(data.gram[t], Xt.T @ Xt, sum_rounding(4 * n_t, n_t * np.outer(x_max, x_max)))
        _assert_close(data.Xty[t], Xt.T @ yt, sum_rounding(4 * n_t, n_t * x_max * y_max))
        _assert_close(data.yty[t], yt @ yt, sum_rounding(4 * n_t, n_t * y_max**2))
    np.testing.assert_array_equal(data.n_samples_task, np.bincount(index))


def test_chunking_keeps_memory_near_the_sample_count():
    """One task of 5,000 samples and 199 of 5: no padding of every task to 5,000."""
    counts = np.array([5000] + [5] * 199)
    m = chunk_length(counts, 20)
    cells = int((-(-counts // m) * m).sum())
    assert cells <= 4 * counts.sum()  # the old layout padded to 200 * 5000 cells
    # equal sizes: every task is one row
    assert chunk_length(np.full(50, 37), 5) == 37


@pytest.mark.parametrize("logistic", [False, True])
def test_chunked_and_single_row_layouts_reach_the_same_optimum(logistic, monkeypatch):
    X, y, tasks = _unequal(seed=3, d=6)
    if logistic:
        y = np.where(y > 0, 1.0, -1.0)
    labels, index = encode_tasks(tasks, X.shape[0])
    T = labels.shape[0]
    loss = LogisticLoss() if logistic else SquaredLoss()
    results = []
    for chunk in (int(np.bincount(index).max()), 4):
        monkeypatch.setattr(data_module, "chunk_length", lambda counts, d, c=chunk: c)
        data = build_task_data(xp, X, y, index, T)
        data.center(center_y=not logistic)
        if logistic:  # the 1-sample task has one class: no finite intercept
            drop_one_class_tasks(xp, data)
        datafit = DataFit(loss, data, fit_intercept=logistic)
        b0 = optimal_intercepts_at_zero(loss, data) if logistic else None
        results.append(fista(datafit, L21(xp, 0.05), xp.zeros((T, X.shape[1])), b0,
                             tol=1e-12, max_iter=20000))
    assert all(r.converged for r in results)
    single, chunked = results
    r = sum_rounding(sum(X.shape), single.scale)
    # tasks of 1 and 5 samples in 6 features: the coefficients are not
    # certified, the linear predictors on the samples are (the loss is
    # strongly convex in them); one-class tasks carry no loss (logistic).  The
    # solver's variables: W on X centred per task, and the intercepts (logistic)
    counts = np.bincount(index)
    weights = 1.0 / counts
    if logistic:
        positives = np.bincount(index, weights=y > 0)
        weights = weights * ((positives > 0) & (positives < counts))
    Xs = [Xt - Xt.mean(axis=0) for Xt in split_tasks(X, index)]
    assert_same_solution(chunked, single, Xs, loss="logistic" if logistic else "squared",
                         weights=weights, fit_intercept=logistic,
                         excess=(chunked.dual_gap + 2 * r, single.dual_gap + 2 * r),
                         slack=4 * r, coefficients=False)


class _CountingNamespace:
    """Wraps a namespace and counts the calls made through it."""

    def __init__(self, xp):
        self._xp = xp
        self.calls = 0

    def __getattr__(self, name):
        attr = getattr(self._xp, name)
        if callable(attr) and not isinstance(attr, type):
            def counted(*args, **kwargs):
                self.calls += 1
                return attr(*args, **kwargs)
            return counted
        return attr


@pytest.mark.parametrize("logistic", [False, True])
def test_array_calls_per_iteration_do_not_grow_with_the_number_of_tasks(logistic, monkeypatch):
    """No Python loop over tasks anywhere in the solve: 3 or 60 tasks (of
    unequal sizes, several rows per task) make the same array calls."""
    monkeypatch.setattr(data_module, "chunk_length", lambda counts, d: 8)

    def calls_per_iteration(n_tasks):
        rng = np.random.default_rng(0)
        sizes = rng.integers(2, 40, n_tasks)
        X = rng.standard_normal((sizes.sum(), 5))
        tasks = np.repeat(np.arange(n_tasks), sizes)
        y = X[:, 0] + 0.5 * rng.standard_normal(X.shape[0])
        if logistic:
            y = np.where(y > 0, 1.0, -1.0)
        labels, index = encode_tasks(tasks, X.shape[0])
        counting = _CountingNamespace(xp)
        data = build_task_data(counting, X, y, index, n_tasks)
        loss = LogisticLoss() if logistic else SquaredLoss()
        datafit = DataFit(loss, data, fit_intercept=logistic)
        b0 = optimal_intercepts_at_zero(loss, data) if logistic else None
        L = datafit.lipschitz()
        counting.calls = 0
        # a safe step (no backtracking) and no restart: the same branches each time
        res = fista(datafit, L21(counting, 0.02), xp.zeros((n_tasks, 5)), b0, tol=1e-30,
                    max_iter=40, lipschitz=L * 4, restart=False)
        return counting.calls / res.n_iter

    assert calls_per_iteration(3) == calls_per_iteration(60)


# -- a shared design's Gram form, centred inside the product ------------------------------------

def _explicit_shared_moments(X, Y):
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    return Xc.T @ Xc, Yc.T @ Xc, np.sum(Yc * Yc, axis=0)


def test_shared_gram_is_centred_inside_the_product():
    """``X^T X - n mean mean^T`` against the centred copy's ``X_c^T X_c``: each entry of
    either is a sum of ``n`` products (plus the subtraction), each erring by at most
    ``(n + 2) eps`` times the sum of the products' magnitudes, at most ``||x_i|| ||x_j||``
    over the raw columns by Cauchy-Schwarz; the targets' moments likewise."""
    from mtlreg._data import build_shared_gram_data

    rng = np.random.default_rng(0)
    n, d, T = 400, 6, 3
    X = rng.standard_normal((n, d)) * np.logspace(-1, 1, d) + rng.uniform(-5, 5, d)
    Y = rng.standard_normal((n, T)) + 3.0
    data = build_shared_gram_data(xp, X, Y)
    gram, Xty, yty = _explicit_shared_moments(X, Y)
    norms = np.linalg.norm(X, axis=0)
    bound = 2 * (n + 2) * EPS * np.outer(norms, norms)
    assert np.all(np.abs(data.gram - gram) <= bound)
    bound_q = 2 * (n + 2) * EPS * np.outer(np.linalg.norm(Y - Y.mean(0), axis=0), norms)
    assert np.all(np.abs(data.Xty - Xty) <= bound_q)
    # sums of n squares, in different orders: each within n eps of the sum of squares
    assert np.all(np.abs(data.yty - yty) <= 2 * n * EPS * yty)
    np.testing.assert_allclose(data.X_offset, np.broadcast_to(X.mean(0), (T, d)), rtol=0)
    assert data.shared and data.X is None


@pytest.mark.parametrize("column", ["constant", "large mean"])
def test_shared_gram_falls_back_to_a_centred_copy_when_the_mean_would_cancel(column):
    """A constant feature, or a mean 1e6 times the spread: ``n mean^2`` would cancel the
    centred diagonal's digits, so the Gram matrix is the centred copy's, computed as
    the explicit one is (equal to the bit), and ``X^T y`` comes from the centred copy
    too: within ``(n + 2) eps ||x_c|| ||y_c||`` of the explicit product (from the raw
    column, its rounding would scale with the mean instead)."""
    from mtlreg._data import build_shared_gram_data

    rng = np.random.default_rng(1)
    n = 300
    X = rng.standard_normal((n, 4))
    X[:, 2] = 7.0 if column == "constant" else 1e6 + rng.standard_normal(n)
    Y = rng.standard_normal((n, 2))
    data = build_shared_gram_data(xp, X, Y)
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    np.testing.assert_array_equal(data.gram, Xc.T @ Xc)
    bound = 2 * (n + 2) * EPS * np.outer(np.linalg.norm(Yc, axis=0), np.linalg.norm(Xc, axis=0))
    assert np.all(np.abs(data.Xty - Yc.T @ Xc) <= bound)


def test_a_shared_gram_fit_makes_no_copy_of_X():
    """The shared design's Gram path allocates less than half of ``X`` (tracemalloc): no
    centred copy (it made one of ``X``'s size before), only ``d x d``, ``T x d`` and
    the centred targets (``T x n``, a tenth of ``X`` here)."""
    from benchmarks.suites.memory import traced_peak
    from mtlreg import L21Regressor

    rng = np.random.default_rng(2)
    X = rng.standard_normal((20000, 50)) + 1.0
    Y = X[:, :5] + rng.standard_normal((20000, 5))
    est = L21Regressor(alpha=0.05)
    est.fit(X, Y)  # warm-up: imports and caches
    peak = traced_peak(lambda: est.fit(X, Y))
    assert est.solution_.raw is not None and est.converged_
    assert peak < 0.5 * X.nbytes, (peak, X.nbytes)
