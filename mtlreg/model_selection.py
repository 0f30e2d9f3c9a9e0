"""Model selection: warm-started regularization paths and task-aware cross-validation.

* :func:`regularization_path` -- one estimator fitted along a decreasing grid
  of ``alpha`` (or another penalty parameter), each fit started from the
  previous solution.
* :class:`TaskStratifiedKFold`, :class:`TaskStratifiedShuffleSplit` --
  splitters that put part of every task's samples in every fold (and, for
  binary targets, part of every task's samples of each class), usable on
  their own in scikit-learn's ``GridSearchCV`` and ``cross_validate``.
* :class:`MultiTaskCV` -- cross-validation along warm-started paths within
  each fold, in parallel over folds, with task-aware scoring
  (:mod:`mtlreg.metrics`) and the one-standard-error rule.
"""

import numbers
import time
import warnings
from collections import defaultdict

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.model_selection._split import BaseCrossValidator
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._indexing import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._backend import get_namespace, to_numpy
from ._data import encode_tasks
from .problem import (is_seam_estimator, objective_at_zero, param_threshold, part_ceiling,
                      problem_alpha_max)

__all__ = [
    "regularization_path", "alpha_grid", "TaskStratifiedKFold", "TaskStratifiedShuffleSplit",
    "MultiTaskCV",
]


# ----------------------------------------------------------------------- grids and paths
def alpha_grid(estimator, X, y, tasks=None, *, n_alphas=20, eps=1e-3, param="alpha"):
    """The default grid: ``n_alphas`` values from ``alpha_max`` down to
    ``eps * alpha_max``, evenly spaced on a log scale (decreasing); the top
    value is ``alpha_max * (1 + 1e-10)``, where the fit is exactly zero.

    For a two-part model the top is where the parameter's part is proved to
    vanish, given the other strength ``s`` and ``ridge``: ``c s + 2 kappa
    sqrt(ridge F(0))`` (e.g. ``DirtyRegressor``: ``P = 0`` once ``alpha >=
    n_tasks * beta`` when ``ridge = 0``, since ``||P||_1 <= T ||P||_1,inf``;
    robust models: ``sqrt(n_tasks) * beta``; the ridge term bounds how far the
    other part's gradient can reach), or ``alpha_max`` if that is lower and the
    other part is zero too.  Above it every grid point would give the same model.

    ``alpha_max`` is :func:`mtlreg.alpha_max` of the estimator's parameter
    ``param`` (the smallest value at which that parameter's part of the model
    is zero); an error for parameters of smooth terms, which have none.
    """
    _check_grid_size(n_alphas, eps)
    _check_path_estimator(estimator, param)
    return _grid(estimator, estimator.prepare(X, y, tasks), n_alphas, eps, param)


def _check_grid_size(n_alphas, eps):
    if not isinstance(n_alphas, numbers.Integral) or n_alphas < 1:
        raise ValueError(f"n_alphas must be a positive integer, got {n_alphas!r}.")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}.")


def _grid(estimator, problem, n_alphas, eps, param):
    """:func:`alpha_grid` on a prepared problem."""
    objective = estimator.get_objective(problem)
    top = problem_alpha_max(problem, param_threshold(estimator, objective, param))
    # One part in 1e10 above the threshold: exactly at it, the solver's first
    # prox compares quantities that differ from alpha_max by rounding and can
    # leave coefficients of 1e-16 (a rank-1 "low-rank part") at the top point.
    top *= 1.0 + 1e-10
    ceiling = part_ceiling(objective, param, objective_at_zero(problem))
    if ceiling is not None and ceiling > 0:
        # alpha_max is where the part is zero when the other part is zero too
        # (both parameters at or above their alpha_max: W = 0); otherwise only
        # the ceiling is proved
        other = [p for p in objective.parts if p.param != param][0]
        other_zero = other.penalty.alpha >= problem_alpha_max(problem, other.threshold)
        top = min(top, ceiling) if other_zero else ceiling
    if not top > 0:
        raise ValueError(
            f"{param}_max is {top}: the gradient of the data fit vanishes at W = 0 (e.g. "
            "constant targets within every task), so W = 0 is optimal for every "
            f"{param}; there is no path to compute."
        )
    return np.geomspace(top, top * eps, n_alphas)


def _check_path_estimator(estimator, param):
    if not is_seam_estimator(estimator):
        raise TypeError(
            f"a regularization path needs an mtlreg estimator, which prepares the data once "
            f"and starts each fit from the previous solution (prepare / fit_problem); got "
            f"{type(estimator).__name__}. For a "
            f"scikit-learn model use scikit-learn's own search (GridSearchCV with "
            f"mtlreg.model_selection.TaskStratifiedKFold) or its *CV estimators."
        )
    params = estimator.get_params(deep=False)
    if param not in params:
        raise ValueError(f"{type(estimator).__name__} has no parameter {param!r}; its "
                         f"parameters are {sorted(params)}.")


def _decreasing_grid(estimator, X, y, tasks, alphas, n_alphas, eps, param, problem=None):
    if alphas is None:
        _check_grid_size(n_alphas, eps)
        problem = problem if problem is not None else estimator.prepare(X, y, tasks)
        return _grid(estimator, problem, n_alphas, eps, param)
    grid = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if grid.size == 0:
        raise ValueError(f"the grid of {param} values is empty.")
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"{param} values must be finite and >= 0, got {grid.tolist()}.")
    return np.sort(grid)[::-1]


class _ConvergenceRecorder(warnings.catch_warnings):
    """Collect ConvergenceWarnings of a sequence of fits (re-warn the rest)."""

    def __init__(self):
        super().__init__(record=True)

    def __enter__(self):
        self.log = super().__enter__()
        warnings.simplefilter("always", ConvergenceWarning)
        return self

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for w in self.log:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _walk_path(model, problem, grid, param, on_point):
    """Fit ``model`` on the prepared ``problem`` at each value of ``grid`` in
    order and call ``on_point(i, model, fit_seconds)`` after each fit.

    Each fit starts from the previous solution, and after the second from the
    secant prediction of the path, ``W_i + r (W_i - W_{i-1})`` with
    ``r = (a_{i+1} - a_i) / (a_i - a_{i-1})`` (a predictor-corrector
    continuation step): on School's L2,1 path it saved 40% of the iterations
    of starting from ``W_i``.  The starting point changes the iterations
    only, never the solution each fit certifies.
    """
    last = []
    for i, value in enumerate(grid):
        model.set_params(**{param: value.item() if hasattr(value, "item") else value})
        start = last[-1] if last else None
        if len(last) == 2:
            s0, s1 = last
            r = float((grid[i] - grid[i - 1]) / (grid[i - 1] - grid[i - 2])) \
                if grid[i - 1] != grid[i - 2] else 0.0
            start = (s1.parts + r * (s1.parts - s0.parts),
                     s1.intercept + r * (s1.intercept - s0.intercept))
        began = time.perf_counter()
        model.fit_problem(problem, start=start)
        on_point(i, model, time.perf_counter() - began)
        last = (last + [model.solution_])[-2:]


def regularization_path(estimator, X, y, tasks=None, *, alphas=None, n_alphas=20, eps=1e-3,
                        param="alpha"):
    """Fit ``estimator`` along a decreasing grid of ``param``, warm-started.

    Each fit starts from the solution at the previous (larger) value, so the
    whole path typically costs a few cold fits.  Every point is solved to
    the estimator's own ``tol`` (a certified duality gap where the model has
    one): the path's solutions are those of independent fits.

    Parameters
    ----------
    estimator : mtlreg estimator
        Its other parameters (``beta``, ``tol``, ...) are used as set; it is
        cloned, not modified.
    X, y, tasks : as in the estimator's ``fit``.
    alphas : array-like, default=None
        Values of ``param``; sorted in decreasing order.  Default:
        ``n_alphas`` values from ``alpha_max`` (:func:`mtlreg.alpha_max`, the
        smallest value at which that part of the model is zero) down to
        ``eps * alpha_max``, log-spaced (:func:`alpha_grid`).
    n_alphas : int, default=20
    eps : float, default=1e-3
    param : str, default="alpha"
        The parameter the path runs over (e.g. ``"beta"`` for the L1 part of
        ``GraphRegressor``).

    Returns
    -------
    path : Bunch
        ``alphas`` (n_alphas,), the grid in decreasing order;
        ``coefs`` (n_alphas, n_tasks, n_features) and ``intercepts``
        (n_alphas, n_tasks), in the namespace of ``X``; ``objectives``,
        ``n_iters``, ``dual_gaps`` (NaN without a certificate), ``converged``
        and ``fit_times`` (seconds), NumPy arrays of shape (n_alphas,);
        ``tasks`` (the task labels, rows of ``coefs``) and ``param``.

    Warns
    -----
    ConvergenceWarning
        Once, listing the values at which a fit stopped at ``max_iter``.
    """
    _check_path_estimator(estimator, param)
    model = clone(estimator)
    problem = model.prepare(X, y, tasks)
    grid = _decreasing_grid(model, X, y, tasks, alphas, n_alphas, eps, param, problem)
    n = grid.shape[0]
    coefs, intercepts = [], []
    objectives, gaps, fit_times = np.empty(n), np.full(n, np.nan), np.empty(n)
    n_iters, converged = np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)

    def record(i, fitted, seconds):
        coefs.append(fitted.coef_)
        intercepts.append(fitted.intercept_)
        objectives[i] = fitted.objective_
        n_iters[i] = fitted.n_iter_
        converged[i] = fitted.converged_
        fit_times[i] = seconds
        if fitted.dual_gap_ is not None:
            gaps[i] = fitted.dual_gap_

    with _ConvergenceRecorder():
        _walk_path(model, problem, grid, param, record)
    if not np.all(converged):
        bad = grid[~converged]
        warnings.warn(
            f"{type(estimator).__name__}: {bad.size} of {n} path points did not converge "
            f"within max_iter={model.max_iter} ({param} = "
            f"{', '.join(f'{v:.4g}' for v in bad[:8])}{' ...' if bad.size > 8 else ''}). "
            "Increase max_iter or tol, or scale the features.",
            ConvergenceWarning, stacklevel=2,
        )
    xp = get_namespace(coefs[0])
    return Bunch(alphas=grid, coefs=xp.stack(coefs), intercepts=xp.stack(intercepts),
                 objectives=objectives, n_iters=n_iters, dual_gaps=gaps, converged=converged,
                 fit_times=fit_times, tasks=model.tasks_, param=param)


# ----------------------------------------------------------------------------- splitters
def _task_codes(y, tasks, n_samples):
    """Integer code of each sample's task (all zeros for a shared design)."""
    if tasks is None:
        return np.zeros(n_samples, dtype=np.int64), None
    # the estimators' own label checks: 1 and "1" stay distinct tasks (or raise), no
    # missing labels, one label per sample
    uniques, codes = encode_tasks(tasks, n_samples)
    return codes, uniques


def _class_codes(y, stratify, n_samples):
    """Integer class code of each sample when stratifying by class, else zeros."""
    if y is None or stratify is False:
        return np.zeros(n_samples, dtype=np.int64)
    y_host = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else
                        y if isinstance(y, (list, tuple)) else to_numpy(y))
    if y_host.shape[0] != n_samples:
        raise ValueError(f"y has {y_host.shape[0]} samples, X has {n_samples}.")
    binary = y_host.ndim == 1 and type_of_target(y_host) == "binary"
    if stratify == "auto" and not binary:
        return np.zeros(n_samples, dtype=np.int64)
    if stratify is True and y_host.ndim != 1:
        raise ValueError("stratify=True needs a 1-D y of class labels; got a 2-D y.")
    return np.unique(y_host, return_inverse=True)[1].reshape(-1)


class _TaskSplitter:
    """What both task-stratified splitters share: strata, checks, routing."""

    # ``tasks`` is requested by default, so GridSearchCV and cross_validate
    # route it here under metadata routing without a set_split_request call.
    __metadata_request__split = {"tasks": True}

    def _strata(self, X, y, groups, tasks):
        n_samples = _num_samples(X)
        if tasks is None:
            tasks = groups  # GridSearchCV without routing passes labels as groups
        task_code, labels = _task_codes(y, tasks, n_samples)
        class_code = _class_codes(y, self.stratify, n_samples)
        n_tasks = int(task_code.max()) + 1 if n_samples else 0
        counts = np.bincount(task_code, minlength=n_tasks)
        name = (lambda t: repr(labels[t].item() if hasattr(labels[t], "item") else labels[t])) \
            if labels is not None else (lambda t: "(all samples)")
        small = np.flatnonzero(counts < 2)
        if small.size:
            raise ValueError(
                f"task {name(small[0])} has {counts[small[0]]} sample(s): every task needs "
                "at least 2, one to train on and one to test on, or its model cannot be "
                "fitted in every fold."
            )
        n_classes = int(class_code.max()) + 1
        return task_code * n_classes + class_code, task_code, counts, name

    def get_n_splits(self, X=None, y=None, groups=None, tasks=None):
        """Number of splits (``n_splits``)."""
        return self.n_splits


def _num_samples(X):
    from sklearn.utils.validation import _num_samples as num

    return num(X)


class TaskStratifiedKFold(_TaskSplitter, BaseCrossValidator):
    """K-fold cross-validation within each task.

    Each task's samples (and, for binary targets, each task's samples of
    each class) are split into ``n_splits`` nearly equal parts, one per fold,
    so every test fold holds part of every task (of every task with at least
    ``n_splits`` samples) and every training fold holds the rest: the
    fitted models know every task they are tested on.  Parts that cannot be
    equal (``n_t`` not a multiple of ``n_splits``) get their extra sample in
    rotating folds, so the folds' total sizes differ by at most one.

    Usable on its own in scikit-learn: ``split(X, y, tasks=...)``, or
    ``split(X, y, groups)`` with the task labels as groups (what
    ``GridSearchCV`` passes without metadata routing); under metadata
    routing ``tasks`` is requested by default.  For a shared design (2-D
    ``Y``, no task labels) it is plain K-fold over the rows.

    Parameters
    ----------
    n_splits : int, default=5
        At least 2.
    shuffle : bool, default=False
        Shuffle each task's samples before splitting them (otherwise the
        parts are contiguous in the order of the data).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling (used only with ``shuffle=True``).
    stratify : {"auto", True, False}, default="auto"
        Also balance the classes within each task: ``"auto"`` does it when
        ``y`` is binary (scikit-learn's ``type_of_target``).
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None, stratify="auto"):
        if not isinstance(n_splits, numbers.Integral) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}.")
        if stratify not in ("auto", True, False):
            raise ValueError(f"stratify must be 'auto', True or False, got {stratify!r}.")
        if not shuffle and random_state is not None:
            raise ValueError("random_state has no effect without shuffle=True: set "
                             "shuffle=True or leave random_state=None.")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state
        self.stratify = stratify

    def split(self, X, y=None, groups=None, tasks=None):
        """Generate ``(train, test)`` index arrays.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks), default=None
        groups : array-like of shape (n_samples,), default=None
            Task labels, when ``tasks`` is not given.
        tasks : array-like of shape (n_samples,), default=None
            Task label of each sample.

        Yields
        ------
        train, test : ndarray of int
        """
        strata, task_code, counts, name = self._strata(X, y, groups, tasks)
        if strata.shape[0] < self.n_splits:
            raise ValueError(
                f"n_splits={self.n_splits} is more than the {strata.shape[0]} samples: some "
                f"test folds would be empty. Use n_splits <= {strata.shape[0]}."
            )
        few = np.flatnonzero(counts < self.n_splits)
        if few.size:
            warnings.warn(
                f"{few.size} task(s) (e.g. {name(few[0])}) have fewer samples than "
                f"n_splits={self.n_splits}: some test folds hold none of their samples.",
                UserWarning, stacklevel=2,
            )
        fold = self._assign_folds(strata)
        for k in range(self.n_splits):
            yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)

    def _assign_folds(self, strata):
        rng = check_random_state(self.random_state) if self.shuffle else None
        K = self.n_splits
        fold = np.empty(strata.shape[0], dtype=np.int64)
        offset = 0
        for s in np.unique(strata):
            members = np.flatnonzero(strata == s)
            if rng is not None:
                members = members[rng.permutation(members.shape[0])]
            base, extra = divmod(members.shape[0], K)
            sizes = np.full(K, base)
            sizes[(offset + np.arange(extra)) % K] += 1
            offset = (offset + extra) % K
            fold[members] = np.repeat(np.arange(K), sizes)
        return fold


class TaskStratifiedShuffleSplit(_TaskSplitter, BaseCrossValidator):
    """Random train/test splits within each task.

    In each of the ``n_splits`` splits, every task contributes
    ``round(test_size * n_t)`` of its samples to the test set (at least 1 and
    at most ``n_t - 1``) and, of the rest, ``round(train_size * n_t)`` (all of
    them by default) to the training set; for binary targets each task's
    test part takes each class in proportion (largest remainders).

    Parameters
    ----------
    n_splits : int, default=10
    test_size : float in (0, 1), default=0.1
        Fraction of each task's samples in the test set.
    train_size : float in (0, 1), default=None
        Fraction of each task's samples in the training set; the complement
        of the test part if None.
    random_state : int, RandomState instance or None, default=None
    stratify : {"auto", True, False}, default="auto"
        As in :class:`TaskStratifiedKFold`.
    """

    def __init__(self, n_splits=10, *, test_size=0.1, train_size=None, random_state=None,
                 stratify="auto"):
        if not isinstance(n_splits, numbers.Integral) or n_splits < 1:
            raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}.")
        for label, value in (("test_size", test_size), ("train_size", train_size)):
            if value is not None and (isinstance(value, numbers.Integral)
                                      or not 0 < value < 1):
                raise ValueError(f"{label} must be a fraction in (0, 1) of each task's "
                                 f"samples, got {value!r}.")
        if test_size is None:
            raise ValueError("test_size must be a fraction in (0, 1), got None.")
        if train_size is not None and train_size + test_size > 1:
            raise ValueError(f"train_size + test_size = {train_size + test_size} > 1.")
        if stratify not in ("auto", True, False):
            raise ValueError(f"stratify must be 'auto', True or False, got {stratify!r}.")
        self.n_splits = int(n_splits)
        self.test_size = test_size
        self.train_size = train_size
        self.random_state = random_state
        self.stratify = stratify

    def split(self, X, y=None, groups=None, tasks=None):
        """Generate ``(train, test)`` index arrays (see :class:`TaskStratifiedKFold`)."""
        strata, task_code, counts, _ = self._strata(X, y, groups, tasks)
        rng = check_random_state(self.random_state)
        n_test = np.clip(np.rint(self.test_size * counts), 1, counts - 1).astype(np.int64)
        if self.train_size is None:
            n_train = counts - n_test
        else:
            n_train = np.clip(np.rint(self.train_size * counts), 1, counts - n_test)
        members = {t: [np.flatnonzero(strata == s) for s in np.unique(strata[task_code == t])]
                   for t in range(counts.shape[0])}
        for _ in range(self.n_splits):
            train, test = [], []
            for t, groups_t in members.items():
                sizes = np.array([g.shape[0] for g in groups_t])
                take_test = _largest_remainder(sizes, n_test[t])
                take_train = _largest_remainder(sizes - take_test, n_train[t])
                for g, a, b in zip(groups_t, take_test, take_train):
                    perm = g[rng.permutation(g.shape[0])]
                    test.append(perm[:a])
                    train.append(perm[a:a + b])
            yield np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _largest_remainder(sizes, total):
    """Integers ``<= sizes`` summing to ``total``, proportional to ``sizes``."""
    share = sizes * (total / sizes.sum())
    take = np.minimum(np.floor(share).astype(np.int64), sizes)
    order = np.argsort(-(share - take), kind="stable")
    for i in order:
        if take.sum() >= total:
            break
        if take[i] < sizes[i]:
            take[i] += 1
    return take


# ---------------------------------------------------------------------------- MultiTaskCV
def _fold_path_scores(estimator, X, y, tasks, train, test, grid, param, scorers):
    """Walk the path on one training fold; score every point on the test fold."""
    X_tr, y_tr = _safe_indexing(X, train), _safe_indexing(y, train)
    X_te, y_te = _safe_indexing(X, test), _safe_indexing(y, test)
    t_tr = None if tasks is None else _safe_indexing(tasks, train)
    t_te = None if tasks is None else _safe_indexing(tasks, test)
    n = grid.shape[0]
    out = {"scores": {name: np.empty(n) for name in scorers}, "fit_time": np.empty(n),
           "score_time": np.empty(n), "n_iter": np.empty(n), "converged": np.empty(n, bool),
           "solutions": [None] * n, "tasks": None}

    def score(i, model, seconds):
        # the fold's solution (all parts, intercepts): the refit starts from
        # their mean over the folds at the selected value
        out["solutions"][i] = model.solution_
        out["tasks"] = model.tasks_
        out["fit_time"][i] = seconds
        out["n_iter"][i] = model.n_iter_
        out["converged"][i] = model.converged_
        start = time.perf_counter()
        for name, scorer in scorers.items():
            out["scores"][name][i] = scorer(model, X_te, y_te, tasks=t_te)
        out["score_time"][i] = time.perf_counter() - start

    model = clone(estimator)
    with _ConvergenceRecorder():
        _walk_path(model, model.prepare(X_tr, y_tr, t_tr), grid, param, score)
    return out


def _plain(value):
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") else value


def _check_scorer(scorer):
    """A callable ``scorer(estimator, X, y, tasks=...)``, or a clear error for the two
    look-alikes: a metric ``f(y_true, y_pred)`` and a scikit-learn scorer (which calls
    ``predict(X)`` without the task labels)."""
    import inspect

    from .metrics import TaskScorer

    if isinstance(scorer, TaskScorer):
        return scorer
    # a scorer object of scikit-learn's (make_scorer, get_scorer), told apart without
    # importing its private class; its metric functions are plain functions
    if not inspect.isroutine(scorer) and type(scorer).__module__.startswith("sklearn."):
        raise ValueError(
            f"scoring={scorer!r} is a scikit-learn scorer: it calls predict(X) without the "
            "task labels, so a long-format model cannot predict. Use "
            "mtlreg.metrics.get_scorer(name) (the same names: 'r2', "
            "'neg_mean_squared_error', 'accuracy', 'roc_auc', ...) or a task-aware metric "
            "wrapped as mtlreg.metrics.TaskScorer(mtlreg.metrics.task_r2_score)."
        )
    if not callable(scorer):
        raise ValueError(f"scoring must be a scorer name, a callable, a list or a dict; "
                         f"got {scorer!r}.")
    try:
        names = list(inspect.signature(scorer).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: trust it
        return scorer
    if names[:2] in (["y_true", "y_pred"], ["y_true", "y_score"], ["y_true", "y_prob"]):
        name = getattr(scorer, "__name__", repr(scorer))
        raise ValueError(
            f"scoring={name} is a metric f({names[0]}, {names[1]}), not a scorer "
            f"f(estimator, X, y, tasks=...): pass a name such as 'r2' "
            f"(mtlreg.metrics.get_scorer_names()), or wrap a task-aware metric, e.g. "
            f"mtlreg.metrics.TaskScorer(mtlreg.metrics.task_r2_score)."
        )
    return scorer


class MultiTaskCV(MetaEstimatorMixin, BaseEstimator):
    """Cross-validated choice of ``alpha`` (and other parameters) along
    warm-started regularization paths.

    For every fold and every combination of the other parameters in
    ``param_grid``, the estimator is fitted along the decreasing grid of
    ``alpha`` on the training part, each fit started from the previous
    solution (:func:`regularization_path`), and every point is scored on the
    test part; folds run in parallel (joblib).  The selected parameters are
    then refitted on all the data, started from the mean of the folds'
    solutions at the selected values.

    Default score, the task-averaged error: for regressors
    ``-(1/T) sum_t (1/n_t) sum_{i in t} (y_i - yhat_i)^2`` (the negated mean
    over the test tasks of each task's mean squared error); for classifiers
    ``(1/T) sum_t accuracy_t`` (one minus the task-averaged misclassification
    rate).  Scorers get the test samples' task labels
    (:mod:`mtlreg.metrics`).

    Parameters
    ----------
    estimator : mtlreg estimator
        Cloned; its parameters not in ``param_grid`` are used as set.
    param_grid : dict or list of dicts, default=None
        Grids of other parameters (``{"beta": [...], "n_clusters": [1, 2]}``),
        as in ``GridSearchCV``; every combination gets its own path.  A
        ``path_param`` entry here gives that combination's path grid
        (overriding ``alphas``).
    alphas : array-like, default=None
        The path grid (sorted decreasing).  Default: for each combination,
        ``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``
        computed on all the data (:func:`alpha_grid`); estimators whose
        ``path_param`` has no closed-form ``alpha_max`` (smooth terms: MTFL,
        MTRL, cASO, clustered, graph's ``alpha``) need ``alphas``.
    n_alphas : int, default=20
    eps : float, default=1e-3
    path_param : str, default="alpha"
        The parameter the warm-started paths run over.
    cv : int, cross-validation generator or iterable, default=5
        An int is ``TaskStratifiedKFold(cv, shuffle=True,
        random_state=random_state)`` (classes balanced within each task for
        classifiers).  A splitter of this module gets the task labels;
        another splitter gets ``groups``; an iterable yields
        ``(train, test)`` index arrays.
    scoring : str, callable, list or dict, default=None
        A name of :func:`mtlreg.metrics.get_scorer` (e.g. ``"r2"``,
        ``"neg_normalized_mean_squared_error"``, ``"roc_auc"``), a callable
        ``scorer(estimator, X, y, tasks=None)``, or a list / dict of these
        (then ``refit`` names the one that selects).  None: the task-averaged
        error above.
    n_jobs : int, default=None
        Parallel jobs over (fold, combination) paths; -1: all cores.
    refit : bool or str, default=True
        Refit the selected parameters on all the data (``best_estimator_``).
        With several scorers, the name of the one that selects.
    selection : {"min", "one_standard_error"}, default="min"
        ``"min"``: the best mean test score (the minimum of the error).
        ``"one_standard_error"``: the largest ``path_param`` (the most
        regularized model) whose mean score is within one standard error of
        the best, ``SE = std(split scores, ddof=1) / sqrt(n_splits)`` at the
        best point; ties between combinations go to the better mean score.
    random_state : int, RandomState instance or None, default=None
        Shuffling of the default ``cv``; fix it for reproducible folds.
    verbose : int, default=0
        joblib's verbosity.

    Attributes
    ----------
    cv_results_ : dict of arrays
        In ``GridSearchCV``'s format (``params``, ``param_<name>``,
        ``split<k>_test_<score>``, ``mean_test_<score>``, ``std_test_<score>``,
        ``rank_test_<score>``, ``mean_fit_time`` ...; ``<score>`` is
        ``score`` for a single scorer), one row per (combination, path
        value), plus ``mean_n_iter``.  Fit times are those of the warm-started
        fits.
    best_index_ : int
    best_params_ : dict
    best_score_ : float
        Mean test score of the selected row.
    best_estimator_ : estimator
        Refitted on all the data (``refit`` true).
    alphas_ : ndarray
        The path grid of the selected combination.
    scorer_ : callable or dict
    n_splits_ : int
    refit_time_ : float
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "get_params"])],
        "param_grid": [dict, list, None],
        "alphas": ["array-like", None],
        "n_alphas": [Interval(numbers.Integral, 1, None, closed="left")],
        "eps": [Interval(numbers.Real, 0, 1, closed="neither")],
        "path_param": [str],
        "cv": ["cv_object"],
        "scoring": [str, callable, list, tuple, dict, None],
        "n_jobs": [numbers.Integral, None],
        "refit": ["boolean", str],
        "selection": [StrOptions({"min", "one_standard_error"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator, param_grid=None, *, alphas=None, n_alphas=20, eps=1e-3,
                 path_param="alpha", cv=5, scoring=None, n_jobs=None, refit=True,
                 selection="min", random_state=None, verbose=0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.path_param = path_param
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.selection = selection
        self.random_state = random_state
        self.verbose = verbose

    # -- pieces ---------------------------------------------------------------------
    def _scorers(self):
        def one(s):
            if not isinstance(s, str):
                return _check_scorer(s)
            from .metrics import get_scorer

            return get_scorer(s)

        if self.scoring is None:
            from .metrics import default_scorer

            return {"score": default_scorer(self.estimator)}, False
        if isinstance(self.scoring, (list, tuple)):
            if not self.scoring or not all(isinstance(s, str) for s in self.scoring):
                raise ValueError("a list of scorers must hold scorer names; use a dict "
                                 "{name: scorer} for callables.")
            return {s: one(s) for s in self.scoring}, True
        if isinstance(self.scoring, dict):
            if not self.scoring:
                raise ValueError("scoring is an empty dict.")
            return {name: one(s) for name, s in self.scoring.items()}, True
        if isinstance(self.scoring, str) or callable(self.scoring):
            return {"score": one(self.scoring)}, False
        raise ValueError(f"scoring must be a scorer name, a callable, a list or a dict; "
                         f"got {self.scoring!r}.")

    def _check_splits(self, y, tasks, splits):
        """What would fail inside a fold, said up front with the fold's number: an empty
        part, a classifier's training part with one class, test tasks never trained on."""
        y_host = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else
                            y if isinstance(y, (list, tuple)) else to_numpy(y))
        codes = None if tasks is None else _task_codes(y, tasks, y_host.shape[0])
        for k, (train, test) in enumerate(splits):
            if len(train) == 0 or len(test) == 0:
                raise ValueError(f"cv fold {k} has an empty {'training' if len(train) == 0 else 'test'} "
                                 "part: use fewer folds or another splitter.")
            if is_classifier(self.estimator):
                classes = np.unique(y_host[train])
                if classes.shape[0] < 2:
                    raise ValueError(
                        f"cv fold {k}: its training part holds only class {_plain(classes[0])!r}; a "
                        "classifier needs two classes to train on. Use a stratified "
                        "splitter (mtlreg.model_selection.TaskStratifiedKFold) or fewer folds.")
            if codes is not None:
                code, labels = codes
                unseen = np.setdiff1d(code[test], code[train])
                if unseen.size:
                    raise ValueError(
                        f"cv fold {k}: its test part holds task {_plain(labels[unseen[0]])!r}, which its "
                        "training part does not: a model cannot predict a task it was not "
                        "trained on. Use mtlreg.model_selection.TaskStratifiedKFold, which puts "
                        "part of every task in every training fold.")

    def _splitter(self):
        if isinstance(self.cv, numbers.Integral):
            return TaskStratifiedKFold(self.cv, shuffle=True, random_state=self.random_state,
                                       stratify="auto" if is_classifier(self.estimator)
                                       else False)
        return self.cv

    def _splits(self, X, y, tasks, groups):
        cv = self._splitter()
        if isinstance(cv, _TaskSplitter):
            return list(cv.split(X, y, tasks=tasks))
        if hasattr(cv, "split"):
            return list(cv.split(X, y, groups))
        return [(np.asarray(tr), np.asarray(te)) for tr, te in cv]

    def _combinations(self, X, y, tasks):
        """``[(other params, decreasing path grid)]``, one per combination."""
        grids = self.param_grid
        if grids is None:
            grids = [{}]
        elif isinstance(grids, dict):
            grids = [grids]
        combos = []
        for grid in grids:
            if not isinstance(grid, dict):
                raise ValueError(f"param_grid must be a dict or a list of dicts, got {grid!r}.")
            grid = dict(grid)
            path_values = grid.pop(self.path_param, None)
            if path_values is None:
                path_values = self.alphas
            for other in ParameterGrid(grid) if grid else [{}]:
                est = clone(self.estimator).set_params(**other)
                combos.append((other, _decreasing_grid(est, X, y, tasks, path_values,
                                                       self.n_alphas, self.eps,
                                                       self.path_param)))
        return combos

    # -- fit ------------------------------------------------------------------------
    def fit(self, X, y, tasks=None, groups=None):
        """Cross-validate along the paths, select, and refit.

        Parameters
        ----------
        X, y, tasks : as in the estimator's ``fit``.
        groups : array-like of shape (n_samples,), default=None
            Passed to a ``cv`` splitter that is not one of this module's
            (those get ``tasks``).

        Returns
        -------
        self
        """
        self._validate_params()
        _check_path_estimator(self.estimator, self.path_param)
        scorers, multimetric = self._scorers()
        if multimetric and (self.refit is True or (self.refit is not False
                                                   and self.refit not in scorers)):
            raise ValueError(f"with several scorers, refit must name the one that selects "
                             f"(one of {sorted(scorers)}) or be False; got {self.refit!r}.")
        select = self.refit if multimetric and self.refit is not False else \
            ("score" if not multimetric else None)
        combos = self._combinations(X, y, tasks)
        splits = self._splits(X, y, tasks, groups)
        if not splits:
            raise ValueError("cv produced no splits.")
        self._check_splits(y, tasks, splits)

        jobs = [(c, k) for c in range(len(combos)) for k in range(len(splits))]
        results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_path_scores)(clone(self.estimator).set_params(**combos[c][0]),
                                       X, y, tasks, *splits[k], combos[c][1],
                                       self.path_param, scorers)
            for c, k in jobs)
        self.cv_results_ = self._format_results(combos, splits, jobs, results, scorers,
                                                multimetric)
        self.n_splits_ = len(splits)
        self.multimetric_ = multimetric
        self.scorer_ = scorers if multimetric else scorers["score"]
        n_bad = int(sum((~r["converged"]).sum() for r in results))
        if n_bad:
            warnings.warn(f"{n_bad} of {sum(r['converged'].size for r in results)} fits along "
                          "the cross-validation paths did not converge within max_iter.",
                          ConvergenceWarning, stacklevel=2)
        if select is None:
            return self
        key = "score" if not multimetric else select
        self.best_index_ = self._select(key, combos)
        self.best_params_ = self.cv_results_["params"][self.best_index_]
        self.best_score_ = float(self.cv_results_[f"mean_test_{key}"][self.best_index_])
        combo = self._combo_of_row[self.best_index_]
        self.alphas_ = combos[combo][1]
        if self.refit:
            position = int(np.flatnonzero(self._combo_of_row == combo).tolist().index(
                self.best_index_))
            fold_solutions = [res for (c, _), res in zip(jobs, results) if c == combo]
            self._refit(X, y, tasks, combos[combo][0], fold_solutions, position)
        return self

    def _format_results(self, combos, splits, jobs, results, scorers, multimetric):
        n_splits = len(splits)
        by_combo = defaultdict(dict)
        for (c, k), res in zip(jobs, results):
            by_combo[c][k] = res
        rows, combo_of_row = [], []
        for c, (other, grid) in enumerate(combos):
            for value in grid:
                rows.append({**other, self.path_param: float(value)})
                combo_of_row.append(c)
        self._combo_of_row = np.asarray(combo_of_row)

        def stacked(field, name=None):  # (n_splits, n_rows)
            return np.stack([np.concatenate([
                (by_combo[c][k][field][name] if name else by_combo[c][k][field])
                for c in range(len(combos))]) for k in range(n_splits)])

        out = {"params": rows}
        names = sorted({p for row in rows for p in row})
        for p in names:
            col = np.ma.MaskedArray(np.empty(len(rows), dtype=object), mask=True)
            for i, row in enumerate(rows):
                if p in row:
                    col[i] = row[p]
            out[f"param_{p}"] = col
        for field in ("fit_time", "score_time"):
            vals = stacked(field)
            out[f"mean_{field}"] = vals.mean(axis=0)
            out[f"std_{field}"] = vals.std(axis=0)
        out["mean_n_iter"] = stacked("n_iter").mean(axis=0)
        for name in scorers:
            suffix = name if multimetric else "score"
            vals = stacked("scores", name)
            for k in range(n_splits):
                out[f"split{k}_test_{suffix}"] = vals[k]
            mean = vals.mean(axis=0)
            out[f"mean_test_{suffix}"] = mean
            out[f"std_test_{suffix}"] = vals.std(axis=0)
            filled = np.where(np.isnan(mean), -np.inf, mean)
            out[f"rank_test_{suffix}"] = rankdata(-filled, method="min").astype(np.int32)
        return out

    def _select(self, key, combos):
        res = self.cv_results_
        mean = res[f"mean_test_{key}"]
        if np.all(np.isnan(mean)):
            raise ValueError("every cross-validation score is NaN: nothing to select.")
        best = int(np.nanargmax(mean))
        if self.selection == "min":
            return best
        splits = np.stack([res[f"split{k}_test_{key}"] for k in range(self.n_splits_)])
        se = np.std(splits[:, best], ddof=1) / np.sqrt(self.n_splits_) \
            if self.n_splits_ > 1 else 0.0
        within = np.flatnonzero(mean >= mean[best] - se)
        values = np.array([row[self.path_param] for row in res["params"]])
        top = values[within].max()
        ties = within[values[within] == top]
        return int(ties[np.argmax(mean[ties])])

    def _refit(self, X, y, tasks, other, fold_results, position):
        """Fit the selected parameters on all the data, started from the mean of
        the folds' solutions there (each fold saw most of every task, so the
        mean is close to the full-data solution; the fit still runs to the
        estimator's own tolerance).  Folds that do not all know the same tasks
        (a splitter that leaves tasks out) give a cold start instead."""
        start = time.perf_counter()
        model = clone(self.estimator).set_params(**other)
        model.set_params(**{self.path_param: self.best_params_[self.path_param]})
        solutions = [res["solutions"][position] for res in fold_results]
        labels = [to_numpy(res["tasks"]) for res in fold_results]
        same_tasks = all(lab.shape == labels[0].shape and np.array_equal(lab, labels[0])
                         for lab in labels)
        problem = model.prepare(X, y, tasks)
        mean = None
        if same_tasks and np.array_equal(labels[0], to_numpy(problem.labels)):
            mean = (sum(s.parts for s in solutions) / len(solutions),
                    sum(s.intercept for s in solutions) / len(solutions))
        model.fit_problem(problem, start=mean)
        self.refit_time_ = time.perf_counter() - start
        self.best_estimator_ = model

    # -- delegation -----------------------------------------------------------------
    def _estimator_has(method):
        def check(self):
            if hasattr(self, "best_estimator_"):
                return hasattr(self.best_estimator_, method)
            return hasattr(self.estimator, method)
        return check

    @available_if(_estimator_has("predict"))
    def predict(self, X, tasks=None):
        """``best_estimator_.predict(X, tasks=tasks)``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X, tasks=tasks)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X, tasks=None):
        """``best_estimator_.decision_function(X, tasks=tasks)``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X, tasks=tasks)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X, tasks=None):
        """``best_estimator_.predict_proba(X, tasks=tasks)``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X, tasks=tasks)

    def score(self, X, y, tasks=None):
        """The selecting scorer of ``best_estimator_`` on ``(X, y, tasks)``."""
        check_is_fitted(self, "best_estimator_")
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        return scorer(self.best_estimator_, X, y, tasks=tasks)

    @property
    def classes_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = self.estimator.__sklearn_tags__()
        tags.estimator_type = sub.estimator_type
        tags.target_tags.multi_output = sub.target_tags.multi_output
        return tags
