"""Model selection (mtlreg.model_selection): warm-started regularization
paths, warm starts of every estimator, ``alpha_max`` as a threshold, the
task-stratified splitters, :class:`MultiTaskCV` and ``plot_cv_curve``.

Every reference is computed independently of the code under test: cold fits
of cloned estimators at each value (two fits agree as far as their certified
duality gaps and strong convexity say, see "certified agreement" below),
hand loops over folds with the metric written in NumPy / scikit-learn per
task, closed forms of ``alpha_max`` from the gradient at ``W = 0``, and
counts of each task's samples per fold.
"""

import copy
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
from joblib import parallel_backend
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from certificates import (EPS, assert_same_solution, assert_stopping_rule, estimator_problem,
                          rounding)
from problems import TASK_LABELS, interleaved_tasks as _problem

import mtlreg
from mtlreg import (
    CASOClassifier,
    CASORegressor,
    ClusteredClassifier,
    ClusteredRegressor,
    DirtyClassifier,
    DirtyRegressor,
    GraphClassifier,
    GraphRegressor,
    L21Classifier,
    L21Regressor,
    LassoClassifier,
    LassoRegressor,
    MTFLClassifier,
    MTFLRegressor,
    RelationClassifier,
    RelationRegressor,
    RMTFLClassifier,
    RMTFLRegressor,
    RobustClassifier,
    RobustRegressor,
    SparseTraceClassifier,
    SparseTraceRegressor,
    TraceClassifier,
    TraceRegressor,
    alpha_max,
)
from mtlreg.datasets import make_multitask_classification, make_multitask_regression
from mtlreg.metrics import get_scorer
from mtlreg.model_selection import (
    MultiTaskCV,
    TaskStratifiedKFold,
    TaskStratifiedShuffleSplit,
    alpha_grid,
    regularization_path,
)

LABELS = TASK_LABELS  # unsorted on purpose: tasks_ is sorted


# --------------------------------------------------------------------------- data


def _shared_problem(seed=3, n=60, d=5, T=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X[:, :3] @ rng.standard_normal((3, T)) + 0.5 * rng.standard_normal((n, T))
    return X, Y


def _correlated_problem(seed=0, T=3, n=60, d=8, corr=0.97):
    """Strongly correlated features: many FISTA iterations per fit."""
    rng = np.random.default_rng(seed)
    X = corr * rng.standard_normal((T * n, 1)) + np.sqrt(1 - corr ** 2) * \
        rng.standard_normal((T * n, d))
    W = np.zeros((T, d))
    W[:, :3] = rng.standard_normal((T, 3))
    index = np.repeat(np.arange(T), n)
    return X, np.sum(X * W[index], axis=1) + 0.5 * rng.standard_normal(T * n), index


# --------------------------------------------------------- hand-written metrics
def _task_neg_mse(y, pred, tasks):
    """-(1/T) sum_t mean_{i in t} (y_i - pred_i)^2 over the tasks present."""
    return -np.mean([np.mean((y[tasks == t] - pred[tasks == t]) ** 2)
                     for t in np.unique(tasks)])


def _task_accuracy(y, pred, tasks):
    return np.mean([np.mean(y[tasks == t] == pred[tasks == t]) for t in np.unique(tasks)])


def _task_auc(y, logit, tasks, positive):
    return np.mean([roc_auc_score(y[tasks == t] == positive, logit[tasks == t])
                    for t in np.unique(tasks)])


def _hand_score(name, model, X, y, tasks):
    if tasks is None:  # shared design: column t of y is task t
        assert name == "neg_mean_squared_error"
        return -np.mean(np.mean((y - model.predict(X)) ** 2, axis=0))
    if name == "neg_mean_squared_error":
        return _task_neg_mse(y, model.predict(X, tasks=tasks), tasks)
    if name == "accuracy":
        return _task_accuracy(y, model.predict(X, tasks=tasks), tasks)
    if name == "roc_auc":
        return _task_auc(y, model.decision_function(X, tasks=tasks), tasks, model.classes_[1])
    if name == "r2":
        pred = model.predict(X, tasks=tasks)
        return np.mean([1 - np.sum((y[tasks == t] - pred[tasks == t]) ** 2)
                        / np.sum((y[tasks == t] - y[tasks == t].mean()) ** 2)
                        for t in np.unique(tasks)])
    raise AssertionError(name)


def _hand_cv(est, X, y, tasks, splits, rows, scoring):
    """Split scores (n_splits, n_rows): a cold fit per fold and row of params."""
    return np.array([[_hand_score(scoring, clone(est).set_params(**row).fit(
        X[tr], y[tr], tasks=tasks[tr]), X[te], y[te], tasks[te]) for row in rows]
        for tr, te in splits])


# ------------------------------------------------------------ certified agreement
# Two fits of one convex problem (a warm-started path point and a cold fit, a
# refit and a cold fit) agree only as far as their certificates say; rounding
# decides where each solver stops, so a fixed tolerance would be "what passed".
# certificates.assert_same_solution asserts what they say: with s >= F(x) - F*
# for each fit (its duality gap plus the rounding of the objective's sums; the
# Graph models report no gap: their subgradients instead), each objective
# within its own gap above the other, and the points within the distance the
# data fit's curvature on the segment [a, b] gives (the penalty is convex),
# coef_ and intercept_ together (two-part models: the data fit sees only their
# sum, coef_); it returns that bound, delta.


def _problem_of(est, X, y, tasks):
    """The problem of a fitted ``est`` on ``(X, y, tasks)`` for the certificates: its
    data fit, and for the Graph models (complete graph) their quadratic and L1 terms:
    alpha tr(W L W^T) + ridge ||W||_F^2 is 1/2 vec(W)^T P vec(W) with P = 2 alpha (L
    kron I_d) + 2 ridge I (vec stacking the task models w_t), L = T I - 1 1^T."""
    problem = estimator_problem(est, X, y, tasks)
    if isinstance(est, (GraphRegressor, GraphClassifier)):
        assert est.graph is None
        T, d = len(problem["Xs"]), X.shape[1]
        laplacian = T * np.eye(T) - np.ones((T, T))
        problem.update(quadratic=2 * est.alpha * np.kron(laplacian, np.eye(d))
                       + 2 * est.ridge * np.eye(T * d), l1=est.beta)
    return problem


def _path_point(path, i):
    gap = path.dual_gaps[i]
    return SimpleNamespace(coef_=path.coefs[i], intercept_=path.intercepts[i],
                           objective_=path.objectives[i],
                           dual_gap_=None if np.isnan(gap) else gap)


def _score_bound(name, model, X, y, tasks, delta):
    """A bound on |score(m) - score(model)| over every model m whose coef_
    and intercept_ are within delta of model's (the Frobenius norm).
    Regression: each task's prediction moves by ||Delta p_t|| <= ||[X_t 1]||_2
    delta, its sum of squares by at most 2 ||r_t|| ||Delta p_t|| + ||Delta p_t||^2.
    Accuracy and AUC are unchanged (0) when no decision value, or no
    difference of two, is within the move of 0; asserted."""
    if tasks is None:  # shared design: column t of y is task t
        assert name == "neg_mean_squared_error", name
        pred = model.predict(X)
        moves = []
        for t in range(y.shape[1]):
            dp = np.linalg.norm(np.c_[X, np.ones(X.shape[0])], 2) * delta
            sse = 2 * np.linalg.norm(y[:, t] - pred[:, t]) * dp + dp ** 2
            moves.append(sse / X.shape[0])
        return np.mean(moves)
    moves = []
    A = np.c_[X, np.ones(X.shape[0])]
    if name in ("neg_mean_squared_error", "r2"):
        pred = model.predict(X, tasks=tasks)
        for t in np.unique(tasks):
            r = tasks == t
            dp = np.linalg.norm(A[r], 2) * delta
            sse = 2 * np.linalg.norm(y[r] - pred[r]) * dp + dp ** 2
            moves.append(sse / (r.sum() if name == "neg_mean_squared_error"
                                else np.sum((y[r] - y[r].mean()) ** 2)))
        return np.mean(moves)
    z, move = model.decision_function(X, tasks=tasks), np.linalg.norm(A, axis=1) * delta
    if name == "accuracy":
        assert np.all(np.abs(z) > move)
        return 0.0
    assert name == "roc_auc", name
    for t in np.unique(tasks):
        r = tasks == t
        pos = y[r] == model.classes_[1]
        gaps = np.abs(z[r][pos][:, None] - z[r][~pos][None, :])
        assert np.all(gaps > move[r][pos][:, None] + move[r][~pos][None, :])
    return 0.0


class _Recorder:
    """A scorer that keeps a copy of every model it scores, by test fold and
    parameters: a MultiTaskCV run in this process (n_jobs=None) shows the path
    solutions it scored, with their certificates."""

    def __init__(self, name, X, splits, params):
        self.name, self.scorer = name, get_scorer(name)
        self.X, self.splits, self.params, self.models = X, splits, params, {}

    def __call__(self, model, X, y, tasks=None):
        fold = [k for k, (_, test) in enumerate(self.splits)
                if np.array_equal(X, self.X[test])]
        assert len(fold) == 1
        self.models[self._key(fold[0], model.get_params())] = copy.deepcopy(model)
        return self.scorer(model, X, y, tasks=tasks)

    def _key(self, fold, params):
        return (fold,) + tuple(params[p] for p in self.params)

    def model(self, fold, row):
        return self.models[self._key(fold, row)]


def _split_scores(results):
    """The split test scores of ``cv_results_`` (3 splits), one row per split."""
    return np.stack([results[f"split{k}_test_score"] for k in range(3)])


def _check_against_cold_fits(reported, recorder, est, X, y, tasks, splits, rows):
    """MultiTaskCV's split scores ``reported`` (n_splits, n_rows) against cold
    fits, three facts with their own guarantees: the path model it scored is
    the cold fit at those parameters as far as their certificates say
    (certificates.assert_same_solution: delta); the reported score is the hand metric of
    that model (one model, two summations: rounding); the cold fit's hand
    score is within _score_bound(delta) of it.  Returns the cold fits' hand
    scores and those bounds."""
    name = recorder.name
    hand, bound = np.empty(reported.shape), np.empty(reported.shape)
    for k, (tr, te) in enumerate(splits):
        t_tr, t_te = (None, None) if tasks is None else (tasks[tr], tasks[te])
        for i, row in enumerate(rows):
            cold = clone(est).set_params(**row).fit(X[tr], y[tr], tasks=t_tr)
            scored = recorder.model(k, row)
            delta = assert_same_solution(scored, cold, **_problem_of(cold, X[tr], y[tr], t_tr),
                                         coefficients=True)
            mine = _hand_score(name, scored, X[te], y[te], t_te)
            assert abs(reported[k, i] - mine) <= rounding(mine), (k, i)
            hand[k, i] = _hand_score(name, cold, X[te], y[te], t_te)
            bound[k, i] = _score_bound(name, cold, X[te], y[te], t_te, delta) \
                + 2 * rounding(mine)
            assert abs(reported[k, i] - hand[k, i]) <= bound[k, i], (k, i)
    return hand, bound


def _check_recorded(search, recorder, est, X, y, tasks, splits, **cv):
    """``search`` again with a recording scorer: the same fits in this process (the
    same split scores, bit for bit), whose path models are checked against cold
    fits (_check_against_cold_fits).  Returns (the split scores, the cold fits'
    hand scores, their certified bounds)."""
    recorded = MultiTaskCV(est, scoring=recorder, refit=False, **cv).fit(X, y, tasks=tasks)
    reported = _split_scores(search.cv_results_)
    assert_array_equal(_split_scores(recorded.cv_results_), reported)
    hand, bound = _check_against_cold_fits(reported, recorder, est, X, y, tasks, splits,
                                           search.cv_results_["params"])
    return reported, hand, bound


def _certified_best(hand, bound):
    """The row with the best mean score, asserting it is best whatever the
    scores within their bounds (so a search must select it)."""
    mean, width = hand.mean(axis=0), bound.mean(axis=0)
    best = int(np.argmax(mean))
    others = np.arange(mean.size) != best
    assert np.all(mean[best] - width[best] > (mean + width)[others]), (mean, width)
    return best


# ============================================================ regularization_path
# estimator (tol tight), keyword arguments of the path, classifier data
PATH_CASES = {
    "L21Regressor": (L21Regressor(tol=1e-10), {}, False),
    "LassoRegressor": (LassoRegressor(tol=1e-10), {}, False),
    "TraceRegressor": (TraceRegressor(tol=1e-10), {}, False),
    "L21Classifier": (L21Classifier(tol=1e-10), {}, True),
    "DirtyRegressor-fixed-beta": (DirtyRegressor(beta=0.05, tol=1e-10), {}, False),
    "GraphRegressor-beta": (GraphRegressor(alpha=0.1, tol=1e-10), {"param": "beta"}, False),
    # smooth penalties: no alpha_max, explicit (unsorted) grids
    "MTFLRegressor": (MTFLRegressor(tol=1e-10), {"alphas": [0.01, 1.0, 0.1, 0.3]}, False),
    # n_clusters=1: the same solver as 2, without the k-means of clusters_ (0.3 s a fit)
    "ClusteredRegressor": (ClusteredRegressor(n_clusters=1, tol=1e-10),
                           {"alphas": [0.01, 1.0, 0.1]}, False),
}


@pytest.mark.parametrize("name", list(PATH_CASES))
def test_path_points_equal_independent_cold_fits(name):
    est, kwargs, classifier = PATH_CASES[name]
    X, y, tasks = _problem(classifier=classifier)
    param = kwargs.get("param", "alpha")
    path = regularization_path(est, X, y, tasks, n_alphas=5, eps=1e-2, **kwargs)
    n = 5 if "alphas" not in kwargs else len(kwargs["alphas"])
    T, d = 3, X.shape[1]
    assert path.param == param
    assert path.alphas.shape == (n,) and np.all(np.diff(path.alphas) < 0)
    if "alphas" in kwargs:
        assert_array_equal(path.alphas, sorted(kwargs["alphas"], reverse=True))
    else:
        # a two-part model's grid may be capped lower (checked by hand in
        # test_two_part_grids_start_where_the_part_can_be_non_zero)
        # the default grid (its top is checked against alpha_max and the caps by
        # hand in test_two_part_grids_start_where_the_part_can_be_non_zero and
        # test_grid_top_zeroes_its_part_with_and_without_ridge)
        assert_array_equal(path.alphas, alpha_grid(est, X, y, tasks, n_alphas=5, eps=1e-2,
                                                   param=param))
    assert path.coefs.shape == (n, T, d) and path.intercepts.shape == (n, T)
    for field in ("objectives", "n_iters", "dual_gaps", "converged", "fit_times"):
        assert getattr(path, field).shape == (n,), field
    assert path.converged.all()
    assert_array_equal(path.tasks, ["a", "b", "c"])
    for i, value in enumerate(path.alphas):
        cold = clone(est).set_params(**{param: float(value)}).fit(X, y, tasks=tasks)
        # a certificate exactly where the cold fit has one, and both solved to
        # tol (the stopping rule: gap <= tol * objective)
        assert np.isnan(path.dual_gaps[i]) == (cold.dual_gap_ is None)
        if cold.dual_gap_ is not None:
            for gap, objective in ((path.dual_gaps[i], path.objectives[i]),
                                   (cold.dual_gap_, cold.objective_)):
                # (fits on a Gram matrix report the objective re-evaluated: to its
                # rounding)
                assert_stopping_rule(True, gap, objective, max(cold.tol, 100 * EPS),
                                     objective_rounding=rounding(objective))
        assert_same_solution(_path_point(path, i), cold, **_problem_of(cold, X, y, tasks),
                             coefficients=True)
    # not a trivial path: the solutions move
    assert np.abs(path.coefs[-1] - path.coefs[0]).max() > 1e-2


def test_default_grid_runs_from_alpha_max_to_eps_alpha_max():
    X, y, tasks = _problem()
    est = L21Regressor(tol=1e-10)
    top = alpha_max(X, y, tasks, penalty="l21")
    path = regularization_path(est, X, y, tasks, n_alphas=7, eps=0.05)
    assert path.alphas.shape == (7,)
    # the top value is alpha_max * (1 + 1e-10): exactly zero there (below)
    assert path.alphas[0] == pytest.approx(top * (1 + 1e-10),
                                           abs=_threshold_rounding(X, y, tasks))
    assert path.alphas[-1] == pytest.approx(0.05 * top, rel=1e-9)  # 1e-10: the factor
    assert_allclose(np.diff(np.log(path.alphas)), np.log(0.05) / 6, rtol=1e-10)
    assert_array_equal(alpha_grid(est, X, y, tasks, n_alphas=7, eps=0.05), path.alphas)
    # W = 0 at the first point, and a non-zero W just below it
    assert np.count_nonzero(path.coefs[0]) == 0
    below = clone(est).set_params(alpha=0.99 * top).fit(X, y, tasks=tasks)
    assert np.abs(below.coef_).max() > 1e-6
    assert np.count_nonzero(path.coefs[1]) > 0
    # default n_alphas and eps
    default = alpha_grid(est, X, y, tasks)
    assert default.shape == (20,)
    assert default[-1] == pytest.approx(1e-3 * top, rel=1e-9)


def test_default_grid_of_beta_and_of_a_classifier():
    X, y, tasks = _problem()
    graph = GraphRegressor(alpha=0.1, tol=1e-10)
    grid = alpha_grid(graph, X, y, tasks, n_alphas=3, param="beta")
    assert grid[0] == pytest.approx(alpha_max(X, y, tasks, penalty="l1") * (1 + 1e-10),
                                    abs=_threshold_rounding(X, y, tasks))
    Xc, yc, tc = _problem(classifier=True)
    clf = L21Classifier(tol=1e-10)
    path = regularization_path(clf, Xc, yc, tc, n_alphas=3, eps=0.1)
    assert path.alphas[0] == pytest.approx(
        alpha_max(Xc, yc, tc, penalty="l21", loss="logistic") * (1 + 1e-10),
        abs=_threshold_rounding(Xc, yc, tc, "logistic"))
    assert np.count_nonzero(path.coefs[0]) == 0
    assert np.abs(path.coefs[1]).max() > 1e-3


def test_path_first_point_is_exactly_zero():
    """At alpha_max itself the solver's prox compares numbers that differ from
    the threshold by rounding and can keep 1e-16 coefficients (a fit at
    exactly alpha_max had count_nonzero 18 and rank_ 1 for TraceRegressor);
    the grid's top value alpha_max * (1 + 1e-10) gives exact zeros."""
    residues = []
    for seed in range(8):
        for Est, classifier in [(L21Regressor, False), (LassoRegressor, False),
                                (TraceRegressor, False), (L21Classifier, True)]:
            X, y, tasks = _problem(seed, classifier=classifier)
            path = regularization_path(Est(tol=1e-10), X, y, tasks, n_alphas=1)
            residues.append(np.count_nonzero(path.coefs[0]))
    assert residues == [0] * len(residues)


def test_explicit_alphas_are_sorted_decreasing():
    X, y, tasks = _problem()
    path = regularization_path(L21Regressor(tol=1e-10), X, y, tasks, alphas=[0.01, 0.5, 0.1])
    assert_array_equal(path.alphas, [0.5, 0.1, 0.01])
    for i, a in enumerate([0.5, 0.1, 0.01]):
        cold = L21Regressor(alpha=a, tol=1e-10).fit(X, y, tasks=tasks)
        assert_same_solution(_path_point(path, i), cold, **_problem_of(cold, X, y, tasks),
                             coefficients=True)


def test_path_leaves_the_estimator_unchanged():
    X, y, tasks = _problem()
    est = DirtyRegressor(alpha=0.123, beta=0.05, tol=1e-9, warm_start=False)
    before = est.get_params()
    regularization_path(est, X, y, tasks, n_alphas=3, eps=0.1)
    regularization_path(est, X, y, tasks, alphas=[0.2, 0.1], param="beta")
    assert est.get_params() == before
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_path_warns_once_when_fits_stop_at_max_iter():
    X, y, tasks = _correlated_problem()
    est = LassoRegressor(tol=1e-12, max_iter=2)
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        path = regularization_path(est, X, y, tasks, n_alphas=4, eps=1e-2)
    bad = int((~path.converged).sum())
    assert bad >= 2  # several fits stopped: one warning still
    assert [w.category for w in log] == [ConvergenceWarning]
    message = str(log[0].message)
    assert f"{bad} of 4 path points" in message and "max_iter=2" in message
    # each of those fits alone warns
    with pytest.warns(ConvergenceWarning):
        clone(est).set_params(alpha=float(path.alphas[-1])).fit(X, y, tasks=tasks)


def test_path_takes_fewer_iterations_than_cold_fits():
    """Warm starts (and the secant predictor) save iterations: on an
    ill-conditioned problem and a fine grid the path needs well under the
    iterations of independent cold fits at the same values (measured: 0.32
    and 0.58 of them; 0.58 stays under 0.7 even if rounding moved each of
    the 60 fits by one check, 10 iterations, the wrong way)."""
    X, y, tasks = _correlated_problem()
    for est in (LassoRegressor(tol=1e-6), L21Regressor(tol=1e-6)):
        path = regularization_path(est, X, y, tasks, n_alphas=30, eps=1e-2)
        cold = [clone(est).set_params(alpha=float(a)).fit(X, y, tasks=tasks).n_iter_
                for a in path.alphas]
        assert path.n_iters.sum() < 0.7 * sum(cold), (type(est).__name__,
                                                     path.n_iters.sum(), sum(cold))


def test_path_shared_design():
    X, Y = _shared_problem()
    est = L21Regressor(tol=1e-10)
    path = regularization_path(est, X, Y, n_alphas=4, eps=0.05)
    assert path.coefs.shape == (4, 3, 5) and path.intercepts.shape == (4, 3)
    assert_array_equal(path.tasks, np.arange(3))
    top = alpha_max(X, Y, penalty="l21")
    assert path.alphas[0] == pytest.approx(top * (1 + 1e-10),
                                           abs=_threshold_rounding(X, Y, None))
    for i, a in enumerate(path.alphas):
        cold = clone(est).set_params(alpha=float(a)).fit(X, Y)
        assert_same_solution(_path_point(path, i), cold, **_problem_of(cold, X, Y, None),
                             coefficients=True)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(estimator=MTFLRegressor()), ValueError, "threshold for 'alpha'"),
    (dict(estimator=GraphRegressor()), ValueError, "threshold for 'alpha'"),
    (dict(estimator=ClusteredRegressor()), ValueError, "threshold for 'alpha'"),
    (dict(param="gamma"), ValueError, "no parameter 'gamma'"),
    (dict(alphas=[0.1, -0.01]), ValueError, "finite and >= 0"),
    (dict(alphas=[0.1, np.nan]), ValueError, "finite and >= 0"),
    (dict(alphas=[np.inf, 0.1]), ValueError, "finite and >= 0"),
    (dict(alphas=[]), ValueError, "empty"),
    (dict(n_alphas=0), ValueError, "n_alphas must be a positive integer"),
    (dict(n_alphas=2.5), ValueError, "n_alphas must be a positive integer"),
    (dict(eps=0.0), ValueError, r"eps must be in \(0, 1\)"),
    (dict(eps=1.0), ValueError, r"eps must be in \(0, 1\)"),
    (dict(eps=-0.1), ValueError, r"eps must be in \(0, 1\)"),
    (dict(eps=np.nan), ValueError, r"eps must be in \(0, 1\)"),
    (dict(estimator=Ridge()), TypeError, "needs an mtlreg estimator"),
])
def test_path_errors(kwargs, error, match):
    X, y, tasks = _problem()
    est = kwargs.pop("estimator", L21Regressor())
    with pytest.raises(error, match=match):
        regularization_path(est, X, y, tasks, **kwargs)


def test_path_error_on_constant_targets():
    X, _, tasks = _problem()
    y = np.where(tasks == "a", 1.0, 2.0)  # constant within every task
    with pytest.raises(ValueError, match="no path to compute"):
        regularization_path(L21Regressor(), X, y, tasks)


# ======================================================== warm_start, every model
PUBLIC = [getattr(mtlreg, name) for name in mtlreg.__all__
          if isinstance(getattr(mtlreg, name), type)
          and issubclass(getattr(mtlreg, name), BaseEstimator)]


def _interior(est, X, y, tasks):
    """Parameters inside the path: 0.2 x each closed-form threshold, small
    fixed values for smooth terms (which have none).  Clustered models get
    n_clusters=1 (as in test_conformance.py): the same solver, without the
    k-means of ``clusters_`` that costs 0.3 s a fit."""
    if "n_clusters" in est.get_params():
        est.set_params(n_clusters=1)
    norms = est.get_objective(est.prepare(X, y, tasks)).thresholds()
    params = {q: 0.2 * alpha_max(X, y, tasks, estimator=est, param=q)
              for q in ("alpha", "beta") if q in norms}
    params.setdefault("alpha", 1e-3 if is_classifier(est) else 1e-2)
    return params


def test_every_public_estimator_is_covered():
    assert len(PUBLIC) >= 24
    assert {"CASOClassifier", "RMTFLRegressor", "GraphClassifier"} <= {c.__name__
                                                                       for c in PUBLIC}


@pytest.mark.parametrize("Est", PUBLIC, ids=lambda c: c.__name__)
def test_warm_start_refit(Est):
    est = Est(tol=1e-10)
    X, y, tasks = _problem(classifier=is_classifier(est))
    est.set_params(**_interior(est, X, y, tasks))
    model = clone(est).fit(X, y, tasks=tasks)
    first = copy.deepcopy(model)
    n_cold = model.n_iter_
    assert model.converged_ and n_cold >= 10 and np.abs(model.coef_).max() > 1e-3
    # same alpha, warm: started at the solution, it stops sooner (FISTA checks
    # every 10 iterations; most models stop at the first check, but FISTA is
    # not monotone: the two-part models' gap there was 0.3 to 0.7 of the
    # threshold on one machine, so no check count is guaranteed; coordinate
    # descent checks a warm start before its first epoch) at the same
    # solution, within the certificates
    model.set_params(warm_start=True).fit(X, y, tasks=tasks)
    assert model.converged_ and model.n_iter_ < n_cold
    assert_same_solution(model, first, **_problem_of(first, X, y, tasks), coefficients=True)
    # without warm_start the same instance starts from zero again
    model.set_params(warm_start=False).fit(X, y, tasks=tasks)
    assert model.n_iter_ == n_cold
    # a nearby alpha, warm, is the cold fit at that alpha
    nearby = 0.8 * est.alpha
    model.set_params(warm_start=True).fit(X, y, tasks=tasks)
    model.set_params(alpha=nearby).fit(X, y, tasks=tasks)
    cold = clone(est).set_params(alpha=nearby).fit(X, y, tasks=tasks)
    assert model.converged_ and cold.converged_
    assert_same_solution(model, cold, **_problem_of(cold, X, y, tasks), coefficients=True)


def test_warm_start_alternating_solver():
    """The alternating solver (MTRL's) restarts its eps continuation at every
    fit (relative eps = 1, then 10^-k, stopping only once it is at its floor
    1e-12), and n_iter_ counts its outer iterations: at least 13 for any
    starting point, so a warm refit does not take fewer of them (here it even
    takes a few more).  It reaches the same solution, and a warm fit at a
    nearby alpha is the cold fit there, as far as the certified gaps say."""
    X, y, tasks = _problem()
    est = RelationRegressor(alpha=0.01, solver="alternating", tol=1e-10)
    with warnings.catch_warnings():  # a change-rule stop above tol is not convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(est).fit(X, y, tasks=tasks)
        first = copy.deepcopy(model)
        problem = _problem_of(first, X, y, tasks)

        def stopped_right(fit):  # converged_ exactly when the certified gap meets tol
            assert_stopping_rule(fit.converged_, fit.dual_gap_, fit.objective_, fit.tol,
                                 objective_rounding=rounding(fit.objective_))
            return fit.n_iter_ >= 13

        assert stopped_right(model)
        model.set_params(warm_start=True).fit(X, y, tasks=tasks)
        assert stopped_right(model)
        # it stops on a change rule, but dual_gap_ certifies the point it returns
        assert_same_solution(model, first, **problem, coefficients=True)
        model.set_params(alpha=0.008).fit(X, y, tasks=tasks)
        cold = clone(est).set_params(alpha=0.008).fit(X, y, tasks=tasks)
    assert_same_solution(model, cold, **_problem_of(cold, X, y, tasks), coefficients=True)


# =========================================================================== alpha_max
def _hand_gradient(X, y, tasks, loss, loss_scaling, fit_intercept, absolute=False):
    """G (n_features x n_tasks): minus the data fit's gradient at W = 0 and the
    optimal intercepts, written per task (``absolute``: c_t |Xc|^T |r|)."""
    columns = []
    for t in np.unique(tasks):
        Xt, yt = X[tasks == t], y[tasks == t]
        if loss == "logistic":
            yt = (yt == np.unique(y)[1]).astype(float)  # residual: y01 - p(b*)
            r = yt - (yt.mean() if fit_intercept else 0.5)
        else:
            r = yt - (yt.mean() if fit_intercept else 0.0)
        Xc = Xt - Xt.mean(axis=0) if fit_intercept else Xt
        c = 1.0 / yt.shape[0] if loss_scaling == "mean" else 1.0
        columns.append(c * (np.abs(Xc).T @ np.abs(r) if absolute else Xc.T @ r))
    return np.stack(columns, axis=1)


def _threshold_rounding(X, y, tasks, loss="squared", loss_scaling="mean", fit_intercept=True):
    """How far two computations of one alpha_max can differ: each entry of
    G = c_t Xc^T r (a dot product of length n_t, after centring X and y) is
    computed within 2 (n_t + 2) eps c_t |Xc|^T |r| of its exact value, and each
    dual norm here is at most sqrt(T) times the Frobenius norm; twice that
    (both computations), plus the rounding of the factor (1 + 1e-10)."""
    if tasks is None:  # a shared design: task t is column t of y
        T, n = y.shape[1], y.shape[0]
        X, y, tasks = np.tile(X, (T, 1)), y.T.ravel(), np.repeat(np.arange(T), n)
    E = _hand_gradient(X, y, tasks, loss, loss_scaling, fit_intercept, absolute=True)
    n = max(np.sum(tasks == t) for t in np.unique(tasks))
    G = _hand_gradient(X, y, tasks, loss, loss_scaling, fit_intercept)
    return 4 * (n + 2) * EPS * np.sqrt(E.shape[1]) * np.linalg.norm(E) \
        + 4 * EPS * np.abs(G).sum()


DUAL_NORMS = {
    "l1": lambda G: np.abs(G).max(),
    "l21": lambda G: np.linalg.norm(G, axis=1).max(),
    "l1inf": lambda G: np.abs(G).sum(axis=1).max(),
    "task_l2": lambda G: np.linalg.norm(G, axis=0).max(),
    "trace": lambda G: np.linalg.norm(G, 2),
}


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("penalty", list(DUAL_NORMS))
def test_alpha_max_closed_form(penalty, loss, loss_scaling, fit_intercept):
    X, y, tasks = _problem(sizes=(30, 45, 38), classifier=loss == "logistic")
    got = alpha_max(X, y, tasks, penalty=penalty, loss=loss, loss_scaling=loss_scaling,
                    fit_intercept=fit_intercept)
    G = _hand_gradient(X, y, tasks, loss, loss_scaling, fit_intercept)
    assert got == pytest.approx(DUAL_NORMS[penalty](G), abs=_threshold_rounding(
        X, y, tasks, loss, loss_scaling, fit_intercept))


# estimator, {parameter: norm it multiplies}
ZERO_NORMS = [
    (LassoRegressor(), {"alpha": "l1"}),
    (L21Regressor(), {"alpha": "l21"}),
    (TraceRegressor(), {"alpha": "trace"}),
    (SparseTraceRegressor(), {"alpha": "trace", "beta": "l1"}),
    (DirtyRegressor(), {"alpha": "l1inf", "beta": "l1"}),
    (DirtyRegressor(group_norm="l2"), {"alpha": "l21", "beta": "l1"}),
    (RobustRegressor(), {"alpha": "trace", "beta": "task_l2"}),
    (RMTFLRegressor(), {"alpha": "l21", "beta": "task_l2"}),
    (GraphRegressor(alpha=1.0), {"beta": "l1"}),
    (LassoClassifier(), {"alpha": "l1"}),
    (L21Classifier(), {"alpha": "l21"}),
    (TraceClassifier(), {"alpha": "trace"}),
    (SparseTraceClassifier(), {"alpha": "trace", "beta": "l1"}),
    (DirtyClassifier(), {"alpha": "l1inf", "beta": "l1"}),
    (RobustClassifier(), {"alpha": "trace", "beta": "task_l2"}),
    (RMTFLClassifier(), {"alpha": "l21", "beta": "task_l2"}),
    (GraphClassifier(alpha=0.1), {"beta": "l1"}),
]


def _zero_norm_id(case):
    est, norms = case
    extra = "-l2" if getattr(est, "group_norm", "linf") == "l2" else ""
    return type(est).__name__ + extra


@pytest.mark.parametrize("loss_scaling", ["mean", "sum"])
@pytest.mark.parametrize("case", ZERO_NORMS, ids=_zero_norm_id)
def test_alpha_max_of_estimator_is_the_zero_threshold(case, loss_scaling):
    est0, norms = case
    est = clone(est0).set_params(loss_scaling=loss_scaling)
    X, y, tasks = _problem(sizes=(30, 45, 38), classifier=is_classifier(est))
    loss = "logistic" if is_classifier(est) else "squared"
    assert est.get_objective(est.prepare(X, y, tasks)).thresholds() == norms
    tops = {}
    for param, norm in norms.items():
        tops[param] = alpha_max(X, y, tasks, estimator=est, param=param)
        assert tops[param] == pytest.approx(alpha_max(
            X, y, tasks, penalty=norm, loss=loss, loss_scaling=loss_scaling),
            abs=_threshold_rounding(X, y, tasks, loss, loss_scaling))
    above = {q: v * (1 + 1e-6) for q, v in tops.items()}
    at_zero = clone(est).set_params(**above).fit(X, y, tasks=tasks)
    assert np.all(at_zero.coef_ == 0)
    for param in norms:  # just below one threshold (the other part's still above)
        below = clone(est).set_params(**{**above, param: 0.9 * tops[param]}).fit(
            X, y, tasks=tasks)
        assert np.abs(below.coef_).max() > 1e-4, param


def test_alpha_max_estimator_overrides_the_other_arguments():
    X, y, tasks = _problem(sizes=(30, 45, 38))
    est = L21Regressor(fit_intercept=False, loss_scaling="sum")
    got = alpha_max(X, y, tasks, estimator=est, penalty="l1", loss_scaling="mean",
                    fit_intercept=True)
    assert got == pytest.approx(DUAL_NORMS["l21"](
        _hand_gradient(X, y, tasks, "squared", "sum", False)),
        abs=_threshold_rounding(X, y, tasks, "squared", "sum", False))
    fit = clone(est).set_params(alpha=got * (1 + 1e-6)).fit(X, y, tasks=tasks)
    assert np.all(fit.coef_ == 0)


@pytest.mark.parametrize("est, param", [
    (MTFLRegressor(), "alpha"), (MTFLClassifier(), "alpha"),
    (RelationRegressor(), "alpha"), (RelationClassifier(), "alpha"),
    (ClusteredRegressor(), "alpha"), (ClusteredClassifier(), "beta"),
    (CASORegressor(), "alpha"), (CASOClassifier(), "beta"),
    (GraphRegressor(), "alpha"), (GraphClassifier(), "alpha"),
    (LassoRegressor(), "beta"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_alpha_max_errors_for_smooth_terms(est, param):
    X, y, tasks = _problem(classifier=is_classifier(est))
    with pytest.raises(ValueError, match=f"no closed-form threshold for '{param}'"):
        alpha_max(X, y, tasks, estimator=est, param=param)


def test_alpha_max_error_for_a_foreign_estimator():
    X, y, tasks = _problem()
    with pytest.raises(TypeError, match="mtlreg estimator"):
        alpha_max(X, y, tasks, estimator=Ridge())


# ======================================================================== splitters
SIZES = (13, 7, 20, 5)


def _split_data(seed=0, sizes=SIZES):
    """Tasks interleaved, binary labels with unequal classes in each task."""
    rng = np.random.default_rng(seed)
    index = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    X = rng.standard_normal((index.shape[0], 2))
    y01 = (rng.uniform(size=index.shape[0]) < 0.35 + 0.1 * index).astype(int)
    return X, np.where(y01 == 1, "pos", "neg"), LABELS[index]


def _floor_ceil(count, k):
    return {count // k, -(-count // k)}


def _check_partition(splits, n_samples):
    tests = [te for _, te in splits]
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n_samples))
        assert_array_equal(train, np.setdiff1d(np.arange(n_samples), test))
    all_test = np.concatenate(tests)
    assert_array_equal(np.sort(all_test), np.arange(n_samples))  # disjoint, cover all


@pytest.mark.parametrize("stratify", ["auto", False])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("K", [2, 3, 5])
def test_kfold_partitions_every_task(K, shuffle, stratify):
    X, y, tasks = _split_data()
    cv = TaskStratifiedKFold(K, shuffle=shuffle, random_state=0 if shuffle else None,
                             stratify=stratify)
    splits = list(cv.split(X, y, tasks=tasks))
    assert len(splits) == K == cv.get_n_splits()
    _check_partition(splits, X.shape[0])
    sizes = [te.shape[0] for _, te in splits]
    assert max(sizes) - min(sizes) <= 1
    for _, test in splits:
        for t in np.unique(tasks):
            assert np.sum(tasks[test] == t) in _floor_ceil(np.sum(tasks == t), K), t
            if stratify == "auto":  # binary y: every (task, class) too
                for c in ("neg", "pos"):
                    n_tc = np.sum((tasks == t) & (y == c))
                    got = np.sum((tasks[test] == t) & (y[test] == c))
                    assert got in _floor_ceil(n_tc, K), (t, c)


def test_kfold_classes_balanced_only_when_stratifying():
    """Without stratification some (task, class) falls outside floor/ceil on
    this data, so the stratified check above is not vacuous."""
    X, y, tasks = _split_data()
    off = 0
    for _, test in TaskStratifiedKFold(3, stratify=False).split(X, y, tasks=tasks):
        for t in np.unique(tasks):
            for c in ("neg", "pos"):
                n_tc = np.sum((tasks == t) & (y == c))
                off += np.sum((tasks[test] == t) & (y[test] == c)) not in _floor_ceil(n_tc, 3)
    assert off > 0


def test_kfold_without_shuffle_is_contiguous_and_deterministic():
    X, y, tasks = _split_data()
    y_reg = np.arange(X.shape[0], dtype=float)  # continuous: no class strata
    for target, strata in ((y_reg, lambda t: [tasks == t]),
                           (y, lambda t: [(tasks == t) & (y == c) for c in ("neg", "pos")])):
        cv = TaskStratifiedKFold(4)
        splits = list(cv.split(X, target, tasks=tasks))
        fold = np.empty(X.shape[0], dtype=int)
        for k, (_, test) in enumerate(splits):
            fold[test] = k
        for t in np.unique(tasks):
            for members in strata(t):
                # in the order of the data: fold 0 first, then 1, ... (contiguous)
                sequence = fold[np.flatnonzero(members)]
                assert np.all(np.diff(sequence) >= 0) and sequence[0] == 0
        again = list(cv.split(X, target, tasks=tasks))
        for (a, b), (c, d) in zip(splits, again):
            assert_array_equal(a, c) and assert_array_equal(b, d)


def _tests(cv, *args, **kwargs):
    return [te for _, te in cv.split(*args, **kwargs)]


def test_kfold_shuffle_reproducible_with_a_seed():
    X, y, tasks = _split_data()
    one = _tests(TaskStratifiedKFold(3, shuffle=True, random_state=7), X, y, tasks=tasks)
    two = _tests(TaskStratifiedKFold(3, shuffle=True, random_state=7), X, y, tasks=tasks)
    other = _tests(TaskStratifiedKFold(3, shuffle=True, random_state=8), X, y, tasks=tasks)
    plain = _tests(TaskStratifiedKFold(3), X, y, tasks=tasks)
    for a, b in zip(one, two):
        assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(one, other))
    assert any(not np.array_equal(a, b) for a, b in zip(one, plain))


def test_kfold_groups_is_an_alias_of_tasks():
    X, y, tasks = _split_data()
    cv = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    for a, b in zip(_tests(cv, X, y, tasks=tasks), _tests(cv, X, y, groups=tasks)):
        assert_array_equal(a, b)
    # what scikit-learn passes without metadata routing: groups
    y_reg = np.arange(X.shape[0], dtype=float)
    res = cross_validate(Ridge(), X, y_reg, groups=tasks, cv=cv, return_indices=True)
    for a, b in zip(res["indices"]["test"], _tests(cv, X, y_reg, tasks=tasks)):
        assert_array_equal(np.sort(a), b)


def test_kfold_shared_design_is_plain_kfold():
    X = np.random.default_rng(0).standard_normal((23, 3))
    Y = np.random.default_rng(1).standard_normal((23, 4))
    for target in (Y, None, Y[:, 0]):
        for K in (2, 3, 5):
            ours = list(TaskStratifiedKFold(K).split(X, target))
            for (a, b), (c, d) in zip(ours, KFold(K).split(X)):
                assert_array_equal(a, c) and assert_array_equal(b, d)
    shuffled = list(TaskStratifiedKFold(4, shuffle=True, random_state=0).split(X, Y))
    _check_partition(shuffled, 23)
    assert sorted(te.shape[0] for _, te in shuffled) == [5, 6, 6, 6]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_splits=1), "n_splits must be an integer >= 2"),
    (dict(n_splits=3.0), "n_splits must be an integer >= 2"),
    (dict(n_splits=3, random_state=0), "random_state has no effect without shuffle"),
    (dict(n_splits=3, stratify="yes"), "stratify must be"),
])
def test_kfold_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskStratifiedKFold(**kwargs)


def test_kfold_split_errors_and_warning():
    X, y, tasks = _split_data()
    lonely = tasks.astype(object)
    lonely[0] = "zz"  # a task with one sample
    with pytest.raises(ValueError, match="task 'zz' has 1 sample"):
        list(TaskStratifiedKFold(3).split(X, y, tasks=lonely))
    with pytest.raises(ValueError, match="one label per sample"):
        list(TaskStratifiedKFold(3).split(X, y, tasks=tasks[:-1]))
    with pytest.raises(ValueError, match="stratify=True needs a 1-D y"):
        list(TaskStratifiedKFold(3, stratify=True).split(X, np.c_[y, y]))
    # a task with fewer samples than folds: warned, still a partition
    with pytest.warns(UserWarning, match="fewer samples than n_splits=6"):
        splits = list(TaskStratifiedKFold(6).split(X, y, tasks=tasks))
    _check_partition(splits, X.shape[0])
    assert sum(np.any(tasks[te] == "d") for _, te in splits) == 5  # 5 samples, 6 folds


def test_kfold_stratify_true_on_multiclass_labels():
    X, _, tasks = _split_data()
    y = np.arange(X.shape[0]) % 3  # three classes
    for _, test in TaskStratifiedKFold(2, stratify=True).split(X, y, tasks=tasks):
        for t in np.unique(tasks):
            for c in range(3):
                n_tc = np.sum((tasks == t) & (y == c))
                assert np.sum((tasks[test] == t) & (y[test] == c)) in _floor_ceil(n_tc, 2)


SHUFFLE_SIZES = (30, 41, 2, 7)


def _expected_test_counts(test_size, sizes):
    return [min(max(int(np.floor(test_size * n + 0.5)), 1), n - 1) for n in sizes]


@pytest.mark.parametrize("test_size", [0.2, 0.9])
def test_shuffle_split_counts_per_task(test_size):
    X, y, tasks = _split_data(sizes=SHUFFLE_SIZES)
    y_reg = np.arange(X.shape[0], dtype=float)
    cv = TaskStratifiedShuffleSplit(4, test_size=test_size, random_state=0)
    expected = dict(zip(LABELS, _expected_test_counts(test_size, SHUFFLE_SIZES)))
    splits = list(cv.split(X, y_reg, tasks=tasks))
    assert len(splits) == 4 == cv.get_n_splits()
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(X.shape[0]))
        for t in np.unique(tasks):
            assert np.sum(tasks[test] == t) == expected[t], t
    # the test sets differ between splits
    assert len({tuple(te) for _, te in splits}) > 1


def test_shuffle_split_classes_by_largest_remainder():
    X, y, tasks = _split_data(sizes=SHUFFLE_SIZES)
    cv = TaskStratifiedShuffleSplit(3, test_size=0.3, random_state=1)
    for train, test in cv.split(X, y, tasks=tasks):
        for t, n_t in zip(LABELS, SHUFFLE_SIZES):
            n_test = _expected_test_counts(0.3, [n_t])[0]
            counts = np.array([np.sum((tasks == t) & (y == c)) for c in ("neg", "pos")])
            share = counts * n_test / n_t
            want = np.floor(share).astype(int)
            if want.sum() < n_test:
                want[np.argmax(share - want)] += 1
            got = [np.sum((tasks[test] == t) & (y[test] == c)) for c in ("neg", "pos")]
            assert_array_equal(got, want, err_msg=t)


def test_shuffle_split_train_size():
    X, y, tasks = _split_data(sizes=SHUFFLE_SIZES)
    y_reg = np.arange(X.shape[0], dtype=float)
    cv = TaskStratifiedShuffleSplit(3, test_size=0.2, train_size=0.6, random_state=0)
    n_test = _expected_test_counts(0.2, SHUFFLE_SIZES)
    n_train = [min(max(int(np.floor(0.6 * n + 0.5)), 1), n - m)
               for n, m in zip(SHUFFLE_SIZES, n_test)]
    for train, test in cv.split(X, y_reg, tasks=tasks):
        assert np.intersect1d(train, test).size == 0
        for t, a, b in zip(LABELS, n_train, n_test):
            assert np.sum(tasks[train] == t) == a and np.sum(tasks[test] == t) == b


def test_shuffle_split_reproducible():
    X, y, tasks = _split_data(sizes=SHUFFLE_SIZES)

    def tests(seed):
        return _tests(TaskStratifiedShuffleSplit(3, test_size=0.25, random_state=seed),
                      X, y, tasks=tasks)

    for a, b in zip(tests(3), tests(3)):
        assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(tests(3), tests(4)))
    for a, b in zip(tests(3), _tests(TaskStratifiedShuffleSplit(
            3, test_size=0.25, random_state=3), X, y, groups=tasks)):
        assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(test_size=2), "test_size must be a fraction"),
    (dict(test_size=0.0), "test_size must be a fraction"),
    (dict(test_size=1.0), "test_size must be a fraction"),
    (dict(test_size=1.5), "test_size must be a fraction"),
    (dict(test_size=None), "test_size must be a fraction"),
    (dict(train_size=1), "train_size must be a fraction"),
    (dict(train_size=-0.5), "train_size must be a fraction"),
    (dict(test_size=0.5, train_size=0.6), "train_size \\+ test_size"),
    (dict(n_splits=0), "n_splits must be a positive integer"),
    (dict(stratify="x"), "stratify must be"),
])
def test_shuffle_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskStratifiedShuffleSplit(**kwargs)


def test_splitter_routed_in_grid_search_and_cross_validate():
    X, y, tasks = _problem()
    est = L21Regressor(tol=1e-10)
    cv = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    alphas = [0.3, 0.05, 0.01]
    splits = list(cv.split(X, y, tasks=tasks))
    hand = _hand_cv(est, X, y, tasks, splits, [{"alpha": a} for a in alphas],
                    "neg_mean_squared_error")
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": alphas},
                              cv=cv, scoring=get_scorer("neg_mean_squared_error"))
        search.fit(X, y, tasks=tasks)
        res = cross_validate(clone(est).set_params(alpha=0.05).set_fit_request(tasks=True),
                             X, y, cv=cv, scoring=get_scorer("neg_mean_squared_error"),
                             params={"tasks": tasks})
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # the same cold fits as the hand loop (the same operations in this process)
    for k in range(3):
        assert_allclose(search.cv_results_[f"split{k}_test_score"], hand[k], rtol=1e-10)
    assert_allclose(res["test_score"], hand[:, 1], rtol=1e-10)


# ====================================================================== MultiTaskCV
ALPHAS = np.array([0.6, 0.2, 0.05, 0.01])


def _cv3():
    return TaskStratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def l21_search():
    X, y, tasks = _problem()
    est = L21Regressor(tol=1e-10)
    search = MultiTaskCV(est, alphas=ALPHAS, cv=_cv3()).fit(X, y, tasks=tasks)
    return search, est, X, y, tasks


@pytest.fixture(scope="module")
def l21_checked(l21_search):
    """The same search with a recording scorer: the same fits in this process
    (the same split scores, bit for bit), whose path models are checked
    against cold fits (_check_against_cold_fits): (recorder, splits, the cold
    fits' hand scores, their certified bounds)."""
    search, est, X, y, tasks = l21_search
    splits = list(_cv3().split(X, y, tasks=tasks))
    recorder = _Recorder("neg_mean_squared_error", X, splits, ["alpha"])
    _, hand, bound = _check_recorded(search, recorder, est, X, y, tasks, splits,
                                     alphas=ALPHAS, cv=_cv3())
    return recorder, splits, hand, bound


def test_cv_results_have_grid_search_format(l21_search, l21_checked):
    search, est, X, y, tasks = l21_search
    _, _, hand, bound = l21_checked
    with sklearn.config_context(enable_metadata_routing=True):
        grid = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": list(ALPHAS)},
                            cv=_cv3(), scoring=get_scorer("neg_mean_squared_error"))
        grid.fit(X, y, tasks=tasks)
    res = search.cv_results_
    assert set(res) == set(grid.cv_results_) | {"mean_n_iter"}
    for key, value in res.items():
        assert len(value) == 4, key
    assert res["params"] == [{"alpha": a} for a in ALPHAS]
    assert isinstance(res["param_alpha"], np.ma.MaskedArray)
    assert not np.any(res["param_alpha"].mask)
    assert_array_equal(res["param_alpha"].astype(float), ALPHAS)
    splits = _split_scores(res)
    assert_allclose(res["mean_test_score"], splits.mean(axis=0), rtol=1e-14)
    assert_allclose(res["std_test_score"], splits.std(axis=0), rtol=1e-12)
    assert_array_equal(res["rank_test_score"], rankdata(-res["mean_test_score"], method="min"))
    assert res["rank_test_score"].dtype == grid.cv_results_["rank_test_score"].dtype
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
        assert np.all(np.isfinite(res[key])) and np.all(res[key] >= 0)
    assert np.all(res["mean_n_iter"] >= 10)
    # same splits, same scorer: GridSearchCV's cold fits are the hand loop's
    # (the same operations on the same data, up to the rounding of the mean),
    # and the path's scores are within the certified bounds of theirs
    theirs = grid.cv_results_["mean_test_score"]
    assert_allclose(theirs, hand.mean(axis=0), rtol=0, atol=rounding(*theirs))
    assert np.all(np.abs(res["mean_test_score"] - theirs) <= bound.mean(axis=0))
    best = _certified_best(hand, bound)
    assert search.best_params_ == grid.best_params_ == {"alpha": ALPHAS[best]}
    # explicit splits (an iterable cv): the same fits as cv=_cv3()
    splits = list(_cv3().split(X, y, tasks=tasks))
    explicit = MultiTaskCV(est, alphas=ALPHAS, cv=splits).fit(X, y, tasks=tasks)
    with sklearn.config_context(enable_metadata_routing=True):
        grid = GridSearchCV(clone(est).set_fit_request(tasks=True), {"alpha": list(ALPHAS)},
                            cv=splits, scoring=get_scorer("neg_mean_squared_error"))
        grid.fit(X, y, tasks=tasks)
    assert_array_equal(grid.cv_results_["mean_test_score"], theirs)
    for k in range(3):
        assert_array_equal(explicit.cv_results_[f"split{k}_test_score"],
                           res[f"split{k}_test_score"])
    assert explicit.best_params_ == grid.best_params_ == search.best_params_
    assert search.n_splits_ == 3
    assert_array_equal(search.alphas_, ALPHAS)


def test_split_scores_equal_hand_loop_and_default_scoring(l21_search, l21_checked):
    """Default scoring: -(1/T) sum_t MSE_t on each test fold, by hand: exactly
    (to rounding) that of the path model scored, and within the certified
    bound that of a cold fit (l21_checked asserts both)."""
    search, est, X, y, tasks = l21_search
    recorder, splits, hand, bound = l21_checked
    reported = _split_scores(search.cv_results_)
    assert np.all(np.abs(reported - hand) <= bound)
    best = _certified_best(hand, bound)
    assert search.best_index_ == best
    assert search.best_params_ == {"alpha": ALPHAS[best]}
    assert abs(search.best_score_ - hand.mean(axis=0)[best]) <= bound.mean(axis=0)[best]


def test_best_estimator_is_a_cold_fit_on_all_data(l21_search):
    search, est, X, y, tasks = l21_search
    best = search.best_estimator_
    cold = clone(est).set_params(**search.best_params_).fit(X, y, tasks=tasks)
    assert type(best) is L21Regressor
    assert_same_solution(best, cold, **_problem_of(cold, X, y, tasks), coefficients=True)
    assert best.get_params() == cold.get_params()  # warm_start=False kept
    assert search.refit_time_ > 0
    # delegation with tasks
    assert_allclose(search.predict(X[:7], tasks=tasks[:7]),
                    best.predict(X[:7], tasks=tasks[:7]), rtol=1e-14)
    expected = _task_neg_mse(y, best.predict(X, tasks=tasks), tasks)
    assert abs(search.score(X, y, tasks=tasks) - expected) <= rounding(expected)
    # the user's warm_start=True is kept too
    warm = MultiTaskCV(clone(est).set_params(warm_start=True), alphas=ALPHAS[:2],
                       cv=_cv3()).fit(X, y, tasks=tasks)
    assert warm.best_estimator_.warm_start is True


def test_one_standard_error_rule():
    X, y, tasks, _ = _support_problem(n=60)
    kwargs = dict(n_alphas=30, eps=1e-2, cv=3, random_state=0)
    search = MultiTaskCV(L21Regressor(tol=1e-8), selection="one_standard_error",
                         **kwargs).fit(X, y, tasks=tasks)
    res = search.cv_results_
    splits = _split_scores(res)
    mean = splits.mean(axis=0)
    best = int(np.argmax(mean))
    alphas = np.array([row["alpha"] for row in res["params"]])

    def largest_alpha_within(width):
        return int(np.argmax(np.where(mean >= mean[best] - width, alphas, -np.inf)))

    chosen = largest_alpha_within(splits[:, best].std(ddof=1) / np.sqrt(3))
    assert search.best_index_ == chosen
    assert search.best_score_ == pytest.approx(mean[chosen], rel=1e-12)
    # the grid is fine enough that other widths choose differently: the
    # standard error with ddof=0, the standard deviation, no width at all
    others = {largest_alpha_within(splits[:, best].std(ddof=0) / np.sqrt(3)),
              largest_alpha_within(splits[:, best].std(ddof=1)), best}
    assert chosen not in others and alphas[chosen] > alphas[best]
    plain = MultiTaskCV(L21Regressor(tol=1e-8), **kwargs).fit(X, y, tasks=tasks)
    assert plain.best_index_ == best
    assert_array_equal(plain.cv_results_["split0_test_score"], res["split0_test_score"])
    cold = L21Regressor(tol=1e-8).set_params(**search.best_params_).fit(X, y, tasks=tasks)
    assert_same_solution(search.best_estimator_, cold, **_problem_of(cold, X, y, tasks),
                         coefficients=True)


def _support_problem(seed=0, T=4, n=500, d=10, noise=0.5):
    """Rows 1, 4 and 7 of W used by every task (|W_jt| in [1, 2]), the rest 0."""
    rng = np.random.default_rng(seed)
    support = np.zeros(d, dtype=bool)
    support[[1, 4, 7]] = True
    W = np.zeros((T, d))
    W[:, support] = rng.choice([-1.0, 1.0], (T, 3)) * rng.uniform(1, 2, (T, 3))
    X = rng.standard_normal((T * n, d))
    index = rng.permutation(np.repeat(np.arange(T), n))
    y = np.sum(X * W[index], axis=1) + noise * rng.standard_normal(T * n) + index
    return X, y, index, support


def test_one_standard_error_recovers_the_true_support():
    """Statistical, with a fixed seed and a wide margin: on these data every
    grid value from 0.062 to 2.36 (a factor 38, the grid steps by 0.7) gives
    exactly the planted support; the rule picks 0.089, where the zero rows'
    gradients are at most 0.68 alpha (the prox zeroes them with a 32% margin)
    and the support rows' norms are about 3."""
    X, y, tasks, support = _support_problem()
    search = MultiTaskCV(L21Regressor(tol=1e-8), cv=5, random_state=0,
                         selection="one_standard_error").fit(X, y, tasks=tasks)
    assert_array_equal(np.any(search.best_estimator_.coef_ != 0, axis=0), support)


def test_classifier_default_accuracy_and_stratified_folds():
    X, y, tasks = _problem(classifier=True)
    est = L21Classifier(tol=1e-10)
    alphas = [0.1, 0.03, 0.01]
    search = MultiTaskCV(est, alphas=alphas, cv=3, random_state=0).fit(X, y, tasks=tasks)
    # cv=3: the task- and class-stratified, shuffled 3-fold with that seed
    splits = list(TaskStratifiedKFold(3, shuffle=True, random_state=0).split(
        X, y, tasks=tasks))
    for _, test in splits:
        for t in np.unique(tasks):
            for c in ("neg", "pos"):
                n_tc = np.sum((tasks == t) & (y == c))
                assert np.sum((tasks[test] == t) & (y[test] == c)) in _floor_ceil(n_tc, 3)
    # the same fits, recorded: each path model's accuracy is that of the cold
    # fit, no test sample's decision being within the certified distance of 0
    recorder = _Recorder("accuracy", X, splits, ["alpha"])
    reported, hand, bound = _check_recorded(search, recorder, est, X, y, tasks, splits,
                                            alphas=alphas, cv=3, random_state=0)
    assert_allclose(reported, hand, rtol=0, atol=bound.max())  # bound: rounding only
    best = search.best_estimator_
    assert_array_equal(search.classes_, ["neg", "pos"])
    assert_array_equal(search.predict(X, tasks=tasks), best.predict(X, tasks=tasks))
    assert_allclose(search.decision_function(X, tasks=tasks),
                    best.decision_function(X, tasks=tasks), rtol=1e-14)
    assert_allclose(search.predict_proba(X, tasks=tasks), best.predict_proba(X, tasks=tasks),
                    rtol=1e-14)
    assert search.score(X, y, tasks=tasks) == pytest.approx(
        _task_accuracy(y, best.predict(X, tasks=tasks), tasks), rel=1e-12)


def test_classifier_roc_auc_scoring():
    X, y, tasks = _problem(classifier=True, seed=1)
    est = L21Classifier(tol=1e-10)
    search = MultiTaskCV(est, alphas=[0.1, 0.01], cv=3, random_state=2,
                         scoring="roc_auc").fit(X, y, tasks=tasks)
    splits = list(TaskStratifiedKFold(3, shuffle=True, random_state=2).split(
        X, y, tasks=tasks))
    # the same fits, recorded: each path model's AUC is that of the cold fit,
    # no (positive, negative) pair of decisions being within the certified
    # distance of a tie
    recorder = _Recorder("roc_auc", X, splits, ["alpha"])
    reported, hand, bound = _check_recorded(search, recorder, est, X, y, tasks, splits,
                                            alphas=[0.1, 0.01], cv=3, random_state=2)
    assert_allclose(reported, hand, rtol=0, atol=bound.max())  # bound: rounding only
    assert np.all(hand > 0.5)


def test_second_parameter_grid_dirty():
    X, y, tasks = _problem()
    est = DirtyRegressor(tol=1e-10)
    betas, alphas = [0.5, 0.05], [0.4, 0.1, 0.02]
    splits = list(_cv3().split(X, y, tasks=tasks))
    recorder = _Recorder("neg_mean_squared_error", X, splits, ["beta", "alpha"])
    search = MultiTaskCV(est, {"beta": betas}, alphas=alphas, cv=_cv3(),
                         scoring=recorder).fit(X, y, tasks=tasks)
    rows = [{"beta": b, "alpha": a} for b in betas for a in alphas]
    assert search.cv_results_["params"] == rows
    assert_array_equal(search.cv_results_["param_beta"].astype(float),
                       np.repeat(betas, 3))
    reported = _split_scores(search.cv_results_)
    hand, bound = _check_against_cold_fits(reported, recorder, est, X, y, tasks, splits, rows)
    assert search.best_params_ == rows[_certified_best(hand, bound)]
    cold = clone(est).set_params(**search.best_params_).fit(X, y, tasks=tasks)
    assert_same_solution(search.best_estimator_, cold, **_problem_of(cold, X, y, tasks),
                         coefficients=True)
    assert_array_equal(search.alphas_, alphas)


def test_second_parameter_grid_clustered_matches_cold_fits():
    """A parameter that is not the path's (n_clusters): one path per value,
    each point the cold fit there (what GridSearchCV fits: compared with it
    in test_cv_results_have_grid_search_format).  The clustered solver's
    solutions move by up to 3e-6 between warm and cold starts while their
    gaps are 1e-11 (certified: within 2 sqrt(2 gap / mu)), so the scores
    agree to a few 1e-7 only: _check_against_cold_fits bounds that."""
    X, y, tasks = _problem()
    est = ClusteredRegressor(tol=1e-10)
    alphas = [1.0, 0.1, 0.01]
    splits = list(_cv3().split(X, y, tasks=tasks))
    recorder = _Recorder("neg_mean_squared_error", X, splits, ["n_clusters", "alpha"])
    search = MultiTaskCV(est, {"n_clusters": [1, 2]}, alphas=alphas, cv=_cv3(),
                         scoring=recorder).fit(X, y, tasks=tasks)
    rows = search.cv_results_["params"]
    assert rows == [{"n_clusters": k, "alpha": a} for k in (1, 2) for a in alphas]
    reported = _split_scores(search.cv_results_)
    hand, bound = _check_against_cold_fits(reported, recorder, est, X, y, tasks, splits, rows)
    assert search.best_params_ == rows[_certified_best(hand, bound)]


def test_multi_metric_scoring(l21_search, l21_checked):
    single, est, X, y, tasks = l21_search
    recorder, splits, _, _ = l21_checked
    rows = [{"alpha": a} for a in ALPHAS]
    for scoring in (["neg_mean_squared_error", "r2"],
                    {"neg_mean_squared_error": get_scorer("neg_mean_squared_error"),
                     "r2": "r2"}):
        search = MultiTaskCV(est, alphas=ALPHAS, cv=_cv3(), scoring=scoring,
                             refit="r2").fit(X, y, tasks=tasks)
        res = search.cv_results_
        assert "mean_test_score" not in res
        # the same fits as l21_search's (the same operations in this process),
        # whose path models l21_checked recorded and checked against cold fits:
        # each score is that model's metric, by hand (rounding)
        for k in range(3):
            assert_array_equal(res[f"split{k}_test_neg_mean_squared_error"],
                               single.cv_results_[f"split{k}_test_score"])
        for name in ("neg_mean_squared_error", "r2"):
            hand = np.array([[_hand_score(name, recorder.model(k, row), X[te], y[te], tasks[te])
                              for row in rows] for k, (_, te) in enumerate(splits)])
            got = np.stack([res[f"split{k}_test_{name}"] for k in range(3)])
            assert_allclose(got, hand, rtol=0, atol=rounding(*hand.ravel()))
            assert_allclose(res[f"mean_test_{name}"], hand.mean(axis=0), rtol=0,
                            atol=rounding(*hand.ravel()))
            assert f"rank_test_{name}" in res and f"std_test_{name}" in res
        assert search.best_index_ == int(np.argmax(res["mean_test_r2"]))
        assert search.score(X, y, tasks=tasks) == pytest.approx(
            _hand_score("r2", search.best_estimator_, X, y, tasks), rel=1e-12)
    with pytest.raises(ValueError, match="refit must name"):
        MultiTaskCV(est, alphas=ALPHAS, scoring=["r2", "accuracy"], refit=True).fit(
            X, y, tasks=tasks)
    with pytest.raises(ValueError, match="refit must name"):
        MultiTaskCV(est, alphas=ALPHAS, scoring=["r2", "accuracy"], refit="nope").fit(
            X, y, tasks=tasks)
    no_refit = MultiTaskCV(est, alphas=ALPHAS[:2], cv=_cv3(),
                           scoring=["neg_mean_squared_error", "r2"], refit=False).fit(
        X, y, tasks=tasks)
    assert not hasattr(no_refit, "best_estimator_") and "mean_test_r2" in no_refit.cv_results_


def test_parallel_folds_give_identical_results():
    """n_jobs=2 (loky worker processes) gives the serial run's scores, bit for
    bit.  Equality is legitimate only for the same operations with the same
    BLAS: loky limits each worker's BLAS to cpu_count // n_jobs threads while
    a serial run in this process uses them all, and the reductions of a
    multi-threaded BLAS call depend on its thread count (NumPy 1.24 differed
    by 4e-16 there).  So both sides run with one BLAS thread (the workers
    inherit this process's environment, hence the same kernel)."""
    X, y, tasks = _problem(seed=4)
    kwargs = dict(alphas=ALPHAS, cv=3, random_state=0)
    with threadpool_limits(limits=1):
        one = MultiTaskCV(L21Regressor(tol=1e-8), n_jobs=1, **kwargs).fit(X, y, tasks=tasks)
    with parallel_backend("loky", inner_max_num_threads=1):
        two = MultiTaskCV(L21Regressor(tol=1e-8), n_jobs=2, **kwargs).fit(X, y, tasks=tasks)
    for k in range(3):
        assert_array_equal(one.cv_results_[f"split{k}_test_score"],
                           two.cv_results_[f"split{k}_test_score"])
    assert one.best_params_ == two.best_params_


def test_random_state_reproducibility():
    X, y, tasks = _problem(seed=5)

    def run(seed):
        return MultiTaskCV(L21Regressor(tol=1e-8), n_alphas=4, eps=1e-2, cv=3,
                           random_state=seed).fit(X, y, tasks=tasks)

    a, b, c = run(0), run(0), run(1)
    for k in range(3):
        assert_array_equal(a.cv_results_[f"split{k}_test_score"],
                           b.cv_results_[f"split{k}_test_score"])
    assert a.best_params_ == b.best_params_
    assert not np.allclose(a.cv_results_["split0_test_score"],
                           c.cv_results_["split0_test_score"])
    assert_array_equal(a.alphas_, c.alphas_)  # the grid is computed on all data


def test_shared_design_search():
    X, Y = _shared_problem(n=45)
    est = L21Regressor(tol=1e-10)
    cv = TaskStratifiedKFold(3)
    splits = list(KFold(3).split(X))  # a shared design: plain KFold
    recorder = _Recorder("neg_mean_squared_error", X, splits, ["alpha"])
    search = MultiTaskCV(est, alphas=[0.5, 0.1, 0.02], cv=cv, scoring=recorder).fit(X, Y)
    reported = _split_scores(search.cv_results_)
    _check_against_cold_fits(reported, recorder, est, X, Y, None, splits,
                             search.cv_results_["params"])
    assert search.predict(X).shape == (45, 3)
    cold = clone(est).set_params(**search.best_params_).fit(X, Y)
    assert_same_solution(search.best_estimator_, cold, **_problem_of(cold, X, Y, None),
                         coefficients=True)


def test_shared_design_classifier_with_int_cv():
    X, Y = _shared_problem()
    Y = (Y > 0).astype(int)
    search = MultiTaskCV(L21Classifier(), n_alphas=3, eps=0.1, cv=3, random_state=0)
    search.fit(X, Y)
    assert search.predict(X).shape == Y.shape


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(estimator=Ridge()), TypeError, "needs an mtlreg estimator"),
    (dict(estimator=MTFLRegressor(), alphas=None), ValueError, "threshold for 'alpha'"),
    (dict(selection="best"), ValueError, "selection"),
    (dict(scoring=5), ValueError, "scoring"),
    (dict(scoring=["r2", get_scorer("r2")]), ValueError, "scorer names"),
    (dict(scoring={}), ValueError, "empty"),
    (dict(scoring="nope"), ValueError, "not a task-aware scorer"),
    (dict(path_param="gamma"), ValueError, "no parameter 'gamma'"),
    (dict(cv=[]), ValueError, "no splits"),
])
def test_multitask_cv_errors(kwargs, error, match):
    X, y, tasks = _problem()
    kwargs = {"estimator": L21Regressor(), "alphas": ALPHAS, **kwargs}
    with pytest.raises(error, match=match):
        MultiTaskCV(**kwargs).fit(X, y, tasks=tasks)


def test_multitask_cv_warns_once_on_non_convergence():
    X, y, tasks = _correlated_problem()
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        MultiTaskCV(LassoRegressor(tol=1e-12, max_iter=2), n_alphas=3, eps=1e-2,
                    cv=_cv3()).fit(X, y, tasks=tasks)
    along = [w for w in log if "cross-validation paths" in str(w.message)]
    assert len(along) == 1 and along[0].category is ConvergenceWarning
    # the per-fit warnings of the folds are summarized, not repeated
    assert len([w for w in log if issubclass(w.category, ConvergenceWarning)]) <= 2


# ===================================================================== plot_cv_curve
@pytest.fixture(scope="module")
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


@pytest.fixture(scope="module")
def dirty_search():
    X, y, tasks = _problem()
    return MultiTaskCV(DirtyRegressor(tol=1e-8), {"beta": [0.5, 0.05]},
                       alphas=[0.4, 0.1, 0.02, 0.005], cv=_cv3()).fit(X, y, tasks=tasks)


def _vertices(collection):
    return np.concatenate([p.vertices for p in collection.get_paths()])


@pytest.mark.parametrize("band", ["se", "std"])
def test_plot_cv_curve_lines_bands_and_selection(plt, dirty_search, band):
    from mtlreg.plotting import plot_cv_curve

    search = dirty_search
    res = search.cv_results_
    ax = plot_cv_curve(search, band=band)
    splits = _split_scores(res)
    spread = splits.std(axis=0, ddof=1) / np.sqrt(3) if band == "se" else splits.std(axis=0)
    alphas = np.array([row["alpha"] for row in res["params"]])
    betas = np.array([row["beta"] for row in res["params"]])
    lines = ax.get_lines()
    assert len(lines) == 3  # two combinations and the selected value
    assert len(ax.collections) == 2
    for line, polygon, beta in zip(lines[:2], ax.collections, (0.5, 0.05)):
        rows = np.flatnonzero(betas == beta)
        rows = rows[np.argsort(alphas[rows])]
        assert_allclose(line.get_xdata(), alphas[rows], rtol=1e-14)
        assert_allclose(line.get_ydata(), res["mean_test_score"][rows], rtol=1e-14)
        vertices = _vertices(polygon)
        for i in rows:
            for edge in (res["mean_test_score"][i] - spread[i],
                         res["mean_test_score"][i] + spread[i]):
                assert np.any(np.isclose(vertices[:, 0], alphas[i], rtol=1e-12)
                              & np.isclose(vertices[:, 1], edge, rtol=1e-10)), (i, edge)
        assert vertices[:, 1].min() == pytest.approx((res["mean_test_score"] - spread)[
            rows].min(), rel=1e-10)
        assert vertices[:, 1].max() == pytest.approx((res["mean_test_score"] + spread)[
            rows].max(), rel=1e-10)
    assert_allclose(lines[2].get_xdata(), [search.best_params_["alpha"]] * 2)
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)


def test_plot_cv_curve_options_and_errors(plt, dirty_search, l21_search):
    from mtlreg.plotting import plot_cv_curve

    fig, ax = plt.subplots()
    assert plot_cv_curve(l21_search[0], band=None, ax=ax, log_scale=False) is ax
    assert len(ax.collections) == 0 and ax.get_xscale() == "linear"
    assert_allclose(ax.get_lines()[0].get_ydata(),
                    l21_search[0].cv_results_["mean_test_score"][::-1], rtol=1e-14)
    plt.close(fig)
    with pytest.raises(ValueError, match="needs a fitted MultiTaskCV"):
        plot_cv_curve(MultiTaskCV(L21Regressor()))
    with pytest.raises(ValueError, match="band must be"):
        plot_cv_curve(dirty_search, band="iqr")
    with pytest.raises(ValueError, match="single scorer"):
        plot_cv_curve(dirty_search, scoring="r2")
    X, y, tasks = _problem()
    multi = MultiTaskCV(L21Regressor(tol=1e-8), alphas=ALPHAS[:2], cv=_cv3(),
                        scoring=["r2", "neg_mean_squared_error"], refit="r2").fit(
        X, y, tasks=tasks)
    ax = plot_cv_curve(multi, scoring="neg_mean_squared_error")
    assert_allclose(ax.get_lines()[0].get_ydata(),
                    multi.cv_results_["mean_test_neg_mean_squared_error"][::-1], rtol=1e-14)
    with pytest.raises(ValueError, match="scoring must be one of"):
        plot_cv_curve(multi, scoring="accuracy")
    plt.close("all")


# (estimator, path parameter, the cap by hand: the norm inequality that makes
# the parameter's part zero whatever the data, with T = 3 tasks, d = 6 features)
CEILING_CASES = {
    "Dirty-linf-alpha": (DirtyRegressor(alpha=1.0, beta=0.05, tol=1e-10), "alpha", 3 * 0.05),
    "Dirty-l2-alpha": (DirtyRegressor(alpha=1.0, beta=0.05, group_norm="l2", tol=1e-10),
                       "alpha", np.sqrt(3) * 0.05),
    "Dirty-beta": (DirtyRegressor(alpha=0.05, beta=1.0, tol=1e-10), "beta", 0.05),
    "Robust-alpha": (RobustRegressor(alpha=1.0, beta=0.05, tol=1e-10), "alpha",
                     np.sqrt(3) * 0.05),
    "Robust-beta": (RobustRegressor(alpha=0.05, beta=1.0, tol=1e-10), "beta", 0.05),
    "RMTFL-alpha": (RMTFLRegressor(alpha=1.0, beta=0.05, tol=1e-10), "alpha",
                    np.sqrt(3) * 0.05),
    "RMTFL-beta": (RMTFLRegressor(alpha=0.02, beta=1.0, tol=1e-10), "beta",
                   np.sqrt(6) * 0.02),
    "SparseTrace-alpha": (SparseTraceRegressor(alpha=1.0, beta=0.01, tol=1e-10), "alpha",
                          np.sqrt(18) * 0.01),
    "SparseTrace-beta": (SparseTraceRegressor(alpha=0.05, beta=1.0, tol=1e-10), "beta", 0.05),
}


def _grid_top(est, X, y, tasks, param, top, cap):
    """The rule of ``alpha_grid`` for a two-part model: the cap, or ``alpha_max`` when
    it is lower and the other part is zero too (its strength at or above its own
    ``alpha_max``, so that ``W = 0`` above both)."""
    other = "beta" if param == "alpha" else "alpha"
    other_zero = est.get_params()[other] >= alpha_max(X, y, tasks, estimator=est, param=other)
    return min(top, cap) if other_zero else cap


@pytest.mark.parametrize("name", list(CEILING_CASES))
def test_two_part_grids_start_where_the_part_can_be_non_zero(name):
    """The grid of a two-part model starts at the cap (or at alpha_max if that is
    lower and the other part is zero too): above the cap, moving the part into
    the other one never costs more, so every grid point there would give the
    same model.  The cap must be valid: just above it the part is zero."""
    est, param, cap = CEILING_CASES[name]
    X, y, tasks = _problem()
    top = alpha_max(X, y, tasks, estimator=est, param=param) * (1 + 1e-10)
    grid = alpha_grid(est, X, y, tasks, n_alphas=4, param=param)
    assert grid[0] == pytest.approx(_grid_top(est, X, y, tasks, param, top, cap), rel=1e-12)
    part = 0 if param == "alpha" else 1
    fit = clone(est).set_params(**{param: 1.05 * cap}).fit(X, y, tasks=tasks)
    assert np.abs(fit.solution_.parts[part]).max() <= 1e-7 * max(np.abs(fit.coef_).max(), 1e-300)


# -- issue 24: grid tops proved for every parameter combination, errors up front ---------------

# (name, estimator factory, fitted attributes of the alpha part and of the beta part)
_TWO_PART = [
    ("dirty", lambda **kw: DirtyRegressor(**kw), ("coef_shared_", "coef_specific_")),
    ("dirty_l2", lambda **kw: DirtyRegressor(group_norm="l2", **kw),
     ("coef_shared_", "coef_specific_")),
    ("robust", lambda **kw: RobustRegressor(**kw), ("coef_lowrank_", "coef_outlier_")),
    ("rmtfl", lambda **kw: RMTFLRegressor(**kw), ("coef_shared_", "coef_outlier_")),
    ("sparse_trace", lambda **kw: SparseTraceRegressor(**kw),
     ("coef_lowrank_", "coef_sparse_")),
    ("dirty_logistic", lambda **kw: DirtyClassifier(**kw), ("coef_shared_", "coef_specific_")),
]


@pytest.mark.parametrize("name, make, attributes", _TWO_PART, ids=[c[0] for c in _TWO_PART])
@pytest.mark.parametrize("ridge", [0.0, 0.1])
@pytest.mark.parametrize("param", ["alpha", "beta"])
def test_grid_top_zeroes_its_part_with_and_without_ridge(name, make, attributes, ridge, param):
    """Fitted just above the grid's top (1% above: the proved threshold plus a margin
    in which the block-shrinking prox returns exact zeros), the parameter's part is
    exactly zero, on random problems, for both parameters, with and without ridge;
    and the other part is not (the problem is not trivially zero)."""
    classifier = "logistic" in name
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        data = (make_multitask_classification if classifier else make_multitask_regression)(
            n_tasks=4, n_samples=20, n_features=5, random_state=seed)
        X, y, tasks = data.X, data.y, data.tasks
        other = "beta" if param == "alpha" else "alpha"
        # the other strength: a fraction of its own zero threshold, so its part is active
        est = make(ridge=ridge, tol=1e-9)
        other_max = alpha_max(X, y, tasks, estimator=est, param=other)
        est.set_params(**{other: float(rng.uniform(0.05, 0.3)) * other_max})
        top = alpha_grid(est, X, y, tasks, n_alphas=3, param=param)[0]
        fit = clone(est).set_params(**{param: 1.01 * top}).fit(X, y, tasks=tasks)
        first, second = (getattr(fit, a) for a in attributes)
        part, rest = (first, second) if param == "alpha" else (second, first)
        assert np.all(part == 0), (name, seed, np.abs(part).max())
        assert np.any(rest != 0)


def test_grid_top_with_ridge_covers_the_part_the_old_cap_missed():
    """The reported case: DirtyRegressor(beta=0.02, ridge=0.5) on 4 tasks.  The cap
    n_tasks * beta (proved only for ridge = 0) was 0.08 while the shared part stays
    non-zero far above it; the grid now starts above the part's last non-zero point."""
    data = make_multitask_regression(n_tasks=4, n_samples=30, n_features=6, random_state=0)
    est = DirtyRegressor(beta=0.02, ridge=0.5, tol=1e-9)
    old_cap = 4 * 0.02
    above_old_cap = clone(est).set_params(alpha=1.5 * old_cap).fit(data.X, data.y,
                                                                    tasks=data.tasks)
    assert np.any(above_old_cap.coef_shared_ != 0)  # the old grid top was wrong here
    top = alpha_grid(est, data.X, data.y, data.tasks, n_alphas=3)[0]
    assert top > 1.5 * old_cap
    at_top = clone(est).set_params(alpha=1.01 * top).fit(data.X, data.y, tasks=data.tasks)
    assert np.all(at_top.coef_shared_ == 0)


def test_path_and_search_need_an_mtlreg_estimator():
    from sklearn.linear_model import Lasso

    X, y, tasks = _problem()
    with pytest.raises(TypeError, match="needs an mtlreg estimator.*got Lasso"):
        regularization_path(Lasso(), X, y, alphas=[1.0])
    with pytest.raises(TypeError, match="needs an mtlreg estimator.*got Lasso"):
        MultiTaskCV(Lasso()).fit(X, y, tasks=tasks)


def test_more_folds_than_samples_raise_up_front():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2))
    y = rng.standard_normal(6)
    tasks = np.repeat(["a", "b"], 3)
    with pytest.raises(ValueError, match="n_splits=10 is more than the 6 samples"):
        list(TaskStratifiedKFold(10).split(X, y, tasks=tasks))
    with pytest.raises(ValueError, match="n_splits=10 is more than the 6 samples"):
        MultiTaskCV(L21Regressor(), cv=10).fit(X, y, tasks=tasks)


def test_splitter_keeps_labels_of_different_types_apart():
    X = np.zeros((6, 2))
    with pytest.raises(ValueError, match="task labels mix types"):
        list(TaskStratifiedKFold(3).split(X, np.arange(6.0), tasks=[1, 1, 1, "1", "1", "1"]))


def test_fold_problems_are_named_up_front():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = np.r_[np.zeros(6), np.ones(6)]
    tasks = np.tile([0, 1], 6)
    one_class = [(np.arange(6), np.arange(6, 12))]
    with pytest.raises(ValueError, match=r"cv fold 0: its training part holds only class 0\.0"):
        MultiTaskCV(L21Classifier(), cv=one_class).fit(X, y, tasks=tasks)
    unseen = [(np.flatnonzero(tasks == 0), np.flatnonzero(tasks == 1))]
    with pytest.raises(ValueError, match="cv fold 0: its test part holds task 1, which"):
        MultiTaskCV(L21Regressor(), cv=unseen).fit(X, rng.standard_normal(12), tasks=tasks)


def test_scorer_look_alikes_get_a_pointer_to_mtlreg_scorers():
    from sklearn.metrics import get_scorer as sk_get_scorer
    from sklearn.metrics import r2_score

    X, y, tasks = _problem()
    with pytest.raises(ValueError, match=r"is a metric f\(y_true, y_pred\), not a scorer"):
        MultiTaskCV(L21Regressor(), scoring=r2_score, cv=2).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="is a scikit-learn scorer.*mtlreg.metrics.get_scorer"):
        MultiTaskCV(L21Regressor(), scoring=sk_get_scorer("r2"), cv=2).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="is a scikit-learn scorer"):
        MultiTaskCV(L21Regressor(), scoring={"r2": sk_get_scorer("r2")}, cv=2).fit(
            X, y, tasks=tasks)


# -- issue 15: paths and CV through the seam ------------------------------------------------------

def test_refit_starts_cold_when_the_folds_did_not_see_every_task():
    """A split whose training part lacks a task: the folds' mean solution has one
    task too few, so the refit on all the data starts from zero instead (and
    gives the same certified optimum as a plain fit)."""
    X, y, tasks = _problem()
    codes = np.searchsorted(np.unique(tasks), tasks)
    train = np.flatnonzero(codes != 2)[::2]
    test = np.flatnonzero(codes != 2)[1::2]
    cv = MultiTaskCV(L21Regressor(tol=1e-10), alphas=[0.1, 0.05], cv=[(train, test)]).fit(
        X, y, tasks=tasks)
    best = cv.best_estimator_
    assert best.coef_.shape == (3, X.shape[1])
    plain = L21Regressor(alpha=best.alpha, tol=1e-10).fit(X, y, tasks=tasks)
    assert abs(best.objective_ - plain.objective_) <= best.dual_gap_ + plain.dual_gap_ \
        + rounding(plain.objective_)


@pytest.mark.parametrize("run", ["path", "cv", "alpha_max"])
def test_paths_validate_the_parameters_before_preparing(run):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y, tasks = _problem()
    est = L21Regressor(device=3)
    with pytest.raises(InvalidParameterError, match="'device' parameter"):
        if run == "path":
            regularization_path(est, X, y, tasks, n_alphas=2)
        elif run == "cv":
            MultiTaskCV(est, n_alphas=2, cv=2).fit(X, y, tasks=tasks)
        else:
            mtlreg.alpha_max(X, y, tasks, estimator=est)
