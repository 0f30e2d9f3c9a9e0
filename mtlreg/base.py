"""Estimator base classes: the scikit-learn face of the seam in :mod:`mtlreg.problem`.

A family says what its model is in one method, ``get_objective(problem)``
(its parts and their penalties, a smooth term, the solver, extra fitted
attributes).  Everything else -- ``fit`` as prepare / solve / attributes,
warm starts, prediction in the long and shared-design formats, task labels,
metadata routing of ``tasks`` -- lives here, once.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import (as_float, check_same_namespace, device, get_namespace,
                       is_numpy_namespace, small_linalg, to_numpy)
from ._data import lookup_tasks
from .problem import as_numpy_labels, check_settings, float_dtypes, prepare, solve

__all__ = ["MultiTaskRegressorBase", "MultiTaskClassifierBase", "TwoPartRegressorBase",
           "TwoPartClassifierBase", "numerical_rank", "outlier_tasks", "follow_namespace",
           "SQUARED_TRACE_CONSTRAINTS", "MATRIX_STRUCTURE_CONSTRAINTS"]


def set_params_from_init(estimator, params):
    """Store the constructor's arguments (``locals()`` of ``__init__``) as
    attributes of the same names: scikit-learn's rule that ``__init__`` only
    stores its parameters, written once for the explicit signatures that
    ``get_params`` reads."""
    for name, value in params.items():
        if name != "self" and not name.startswith("__"):
            setattr(estimator, name, value)


class _MultiTaskLinearModel(BaseEstimator):
    """Shared machinery of all mtlreg estimators (not public).

    ``fit`` is the seam of :mod:`mtlreg.problem` and nothing else:
    ``prepare`` the data, ``get_objective`` (the one method a family
    defines: its parts and penalties, smooth term and solver), ``solve``, and
    set the fitted attributes from the :class:`~mtlreg.problem.Solution`.
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "loss_scaling": [StrOptions({"mean", "sum"})],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "device": [str, None],
    }
    _loss = None  # "squared" or "logistic"

    def get_objective(self, problem):
        """What this model minimizes on ``problem``, beyond the data fit.

        Parameters
        ----------
        problem : mtlreg.problem.Problem

        Returns
        -------
        mtlreg.problem.Objective
        """
        raise NotImplementedError

    def prepare(self, X, y, tasks=None):
        """Validate the data once for this estimator's loss and settings
        (:func:`mtlreg.problem.prepare`); :meth:`fit_problem` solves it for the
        current parameters, as many times as needed.

        Returns
        -------
        mtlreg.problem.Problem
        """
        self._validate_params()
        return prepare(X, y, tasks, loss=self._loss, loss_scaling=self.loss_scaling,
                       fit_intercept=self.fit_intercept, device=self.device,
                       estimator_name=type(self).__name__)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, tasks=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Long format: 1-D ``y`` with ``tasks``.  Shared design: 2-D ``Y``
            with one column per task and ``tasks=None``.  A 1-D ``y`` without
            ``tasks`` is a single task.
        tasks : array-like of shape (n_samples,), default=None
            Task label of each sample (any sortable hashable values).

        Returns
        -------
        self
        """
        problem = self.prepare(X, y, tasks)
        return self.fit_problem(problem, start=self._previous_solution(problem))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_problem(self, problem, *, start=None):
        """Fit on a prepared problem (:meth:`prepare`) from ``start``.

        What ``fit`` runs after ``prepare``: :func:`mtlreg.problem.solve` of
        :meth:`get_objective`, then the fitted attributes.  Paths and
        cross-validation prepare once and call this at every grid point.

        Parameters
        ----------
        problem : mtlreg.problem.Problem
        start : mtlreg.problem.Solution or tuple (parts, intercept), default=None
            Warm start (see :func:`mtlreg.problem.solve`).

        Returns
        -------
        self
        """
        check_settings(problem, self._loss, self.fit_intercept, self.loss_scaling,
                       type(self).__name__)
        objective = self.get_objective(problem)
        solution = solve(problem, objective, start=start, tol=self.tol, max_iter=self.max_iter)
        self._set_fitted(problem, objective, solution)
        return self

    def _previous_solution(self, problem):
        """``warm_start``: the last solution, if it has this problem's shape."""
        previous = getattr(self, "solution_", None) if self.warm_start else None
        if previous is None:
            return None
        if tuple(previous.parts.shape[1:]) != (problem.n_tasks, problem.n_features) or \
                previous.parts.shape[0] != self.get_objective(problem).n_parts:
            return None
        return previous

    def _set_fitted(self, problem, objective, solution):
        xp = problem.xp
        self.n_features_in_ = problem.n_features
        if problem.feature_names is not None:
            self.feature_names_in_ = problem.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if problem.classes is not None:
            self.classes_ = follow_namespace(xp, problem.classes, problem.X)
        self._y_ndim = problem.y_ndim
        self._shared = problem.shared
        self.tasks_ = follow_namespace(xp, problem.labels, problem.X)
        self.n_tasks_ = problem.labels.shape[0]
        self.coef_ = solution.coef
        self.intercept_ = solution.intercept
        self.n_iter_ = solution.n_iter
        self.objective_ = solution.objective
        self.dual_gap_ = solution.dual_gap
        self.converged_ = solution.converged
        self.solution_ = solution
        for i, part in enumerate(objective.parts):
            if part.name is not None:
                setattr(self, part.name, solution.parts[i, ...])
        if objective.readouts is not None:
            for name, value in objective.readouts(solution).items():
                setattr(self, name, value)
        self._fitted_to_host()
        if not solution.converged and solution.raw.note:
            advice = "Use solver='fista' for a fit certified to tol" \
                if solution.raw.solver == "alternating" else "Increase tol, or scale the features"
            warnings.warn(f"{type(self).__name__} did not converge: {solution.raw.note}. "
                          f"{advice}.", ConvergenceWarning)
        elif not solution.converged:
            if solution.criterion_name == "duality gap":
                detail = (f"duality gap {solution.dual_gap:.3g} > tol * objective = "
                          f"{self.tol:g} * {solution.raw.objective:.6g}")
            else:
                detail = (f"{solution.criterion_name} {solution.criterion:.3g} above "
                          f"tol={self.tol:g}")
                if solution.dual_gap is not None:
                    detail += f" (certified duality gap {solution.dual_gap:.3g})"
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations: {detail}. Increase max_iter or tol, or scale the features.",
                ConvergenceWarning,
            )

    def _fitted_to_host(self):
        """``device="cuda"``: every fitted array attribute back as NumPy."""
        if self.device in (None, "cpu"):
            return
        for name, value in list(vars(self).items()):
            if name.endswith("_") and name != "solution_":
                setattr(self, name, _to_host(value))
        self.solution_ = self.solution_.to_numpy()

    # -- predict -----------------------------------------------------------------
    def _linear_predictor(self, X, tasks, method="predict"):
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="coef_", method=method)
        X = validate_data(self, X, reset=False, dtype=float_dtypes(X))
        xp = get_namespace(X)
        coef = self.coef_
        intercept = self.intercept_
        if tasks is None:
            if self._shared:
                Z = X @ xp.permute_dims(coef, (1, 0)) + intercept[None, :]
                return Z[:, 0] if self._y_ndim == 1 else Z
            if self.n_tasks_ == 1:
                return X @ coef[0, :] + intercept[0]
            raise ValueError(
                f"{type(self).__name__} was fitted in long format on {self.n_tasks_} tasks: "
                "pass tasks=... (one label per sample) to say which task's model predicts "
                "each sample. Under metadata routing, request it with "
                "set_predict_request(tasks=True) / set_score_request(tasks=True)."
            )
        index = lookup_tasks(tasks, to_numpy(self.tasks_), X.shape[0])
        idx = xp.asarray(index, device=device(X))
        W = xp.take(coef, idx, axis=0)
        return xp.sum(X * W, axis=1) + xp.take(intercept, idx, axis=0)

    def _check_score_targets(self, y, tasks):
        """A shared-design model scored without tasks needs one column per task."""
        check_is_fitted(self)
        ndim = len(getattr(y, "shape", np.shape(y)))
        if tasks is None and self._shared and self.n_tasks_ > 1 and ndim != 2:
            raise ValueError(
                f"{type(self).__name__} was fitted on a shared design with {self.n_tasks_} "
                f"tasks: score it with a 2-D Y of shape (n_samples, {self.n_tasks_}), or pass "
                "tasks=... (column indices) to score one task per sample; got a 1-D y."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.array_api_support = True
        return tags


def numerical_rank(xp, W):
    """Singular values above ``max(W.shape) * eps * sigma_max`` (0 for ``W = 0``)."""
    s = small_linalg(xp, "svdvals", W)
    top = as_float(xp.max(s)) if s.shape[0] else 0.0
    if top == 0.0:
        return 0
    cutoff = max(W.shape) * float(xp.finfo(W.dtype).eps) * top
    return int(as_float(xp.sum(xp.astype(s > cutoff, xp.int64))))


def outlier_tasks(xp, part, labels):
    """Labels of the tasks whose row of ``part`` is non-zero (robust models)."""
    flagged = np.flatnonzero(to_numpy(xp.any(part != 0, axis=1)))
    return labels[flagged] if isinstance(labels, np.ndarray) else \
        xp.take(labels, xp.asarray(flagged, device=device(labels)), axis=0)


class MultiTaskRegressorBase(RegressorMixin, _MultiTaskLinearModel):
    """Regressor base: squared loss."""

    _loss = "squared"

    def __init__(self, alpha=1.0, *, ridge=0.0, loss_scaling="mean", fit_intercept=True,
                 tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())

    def predict(self, X, tasks=None):
        """Predict with each sample's task model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        tasks : array-like of shape (n_samples,), default=None
            Task label of each sample; required for a model fitted in long
            format on more than one task.  Without it, a shared-design model
            returns every task's prediction, shape (n_samples, n_tasks).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_tasks)
        """
        return self._linear_predictor(X, tasks)

    def score(self, X, y, sample_weight=None, tasks=None):
        """Coefficient of determination R^2 of ``predict(X, tasks)``.

        Pooled over all samples in long format; averaged uniformly over tasks
        for a shared design (as scikit-learn's multi-output R^2).
        """
        from sklearn.metrics import r2_score

        self._check_score_targets(y, tasks)
        return float(r2_score(y, self.predict(X, tasks=tasks), sample_weight=sample_weight))


class MultiTaskClassifierBase(ClassifierMixin, _MultiTaskLinearModel):
    """Binary classifier base: logistic loss, any two class labels.

    A task whose training labels are all one class has no finite minimizer
    when intercepts are fitted: its loss vanishes only in the limit
    ``b_t -> +-inf``, where it is zero whatever ``w_t`` is.  The joint solve
    gives it zero loss weight and keeps its ``w_t`` in the penalty:
    ``coef_[t] = 0`` where zeroing a task never raises the penalty (every
    family but the task graph; under task clustering the zero direction can
    still take some of ``M``'s trace, so the other tasks' problem is not
    quite the one without the task), and under a task graph whatever the
    graph makes it (it is pulled towards its neighbours); ``objective_``
    describes the returned coefficients, and
    ``intercept_[t] = +-log(1 / eps)`` stands for the limit (probability
    ``1 - eps`` for its class).
    """

    _loss = "logistic"

    def __init__(self, alpha=0.01, *, ridge=0.0, loss_scaling="mean", fit_intercept=True,
                 tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())

    def decision_function(self, X, tasks=None):
        """Logit ``x . w_t + b_t`` of the positive class ``classes_[1]``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_tasks)
            The second form for a shared-design model called without ``tasks``.
        """
        return self._linear_predictor(X, tasks, method="decision_function")

    def predict_proba(self, X, tasks=None):
        """Class probabilities.

        Returns
        -------
        ndarray of shape (n_samples, 2), columns ordered as ``classes_``; for a
        shared-design model called without ``tasks``, the probability of
        ``classes_[1]`` for every task, shape (n_samples, n_tasks).
        """
        return self._proba(X, tasks, "predict_proba")

    def _proba(self, X, tasks, method):
        Z = self._linear_predictor(X, tasks, method=method)
        xp = get_namespace(Z)

        def sigmoid(z):  # without overflow, and accurate for both tails
            E = xp.exp(-xp.abs(z))
            return xp.where(z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))

        if Z.ndim == 2:
            return sigmoid(Z)
        return xp.stack([sigmoid(-Z), sigmoid(Z)], axis=1)

    def predict_log_proba(self, X, tasks=None):
        """Logarithm of :meth:`predict_proba`, computed from the logits
        (``log p = -log(1 + exp(-z))``), finite where ``p`` rounds to 0 or 1."""
        Z = self._linear_predictor(X, tasks, method="predict_log_proba")
        xp = get_namespace(Z)

        def log_sigmoid(z):
            return xp.minimum(z, xp.zeros_like(z)) - xp.log1p(xp.exp(-xp.abs(z)))

        if Z.ndim == 2:
            return log_sigmoid(Z)
        return xp.stack([log_sigmoid(-Z), log_sigmoid(Z)], axis=1)

    def predict(self, X, tasks=None):
        """Predicted class labels (``classes_[1]`` where the logit is positive)."""
        Z = self._linear_predictor(X, tasks, method="predict")
        xp = get_namespace(Z)
        classes = self.classes_
        if isinstance(classes, np.ndarray):  # labels that only NumPy can hold
            return classes[to_numpy(Z > 0).astype(np.int64)]
        return xp.where(Z > 0, classes[1], classes[0])

    def score(self, X, y, sample_weight=None, tasks=None):
        """Mean accuracy of ``predict(X, tasks)`` over all samples (and tasks)."""
        self._check_score_targets(y, tasks)
        y_true = as_numpy_labels(y)
        y_pred = to_numpy(self.predict(X, tasks=tasks))
        if y_true.ndim == 2 and y_true.shape[1] == 1 and y_pred.ndim == 1:
            y_true = y_true[:, 0]
        correct = (y_pred == y_true).reshape(y_true.shape[0], -1).mean(axis=1)
        weights = None if sample_weight is None else to_numpy(sample_weight)
        return float(np.average(correct, weights=weights))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


# models of the squared trace norm with an auxiliary matrix (MTFL, MTRL)
SQUARED_TRACE_CONSTRAINTS = {
    **_MultiTaskLinearModel._parameter_constraints,
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "solver": [StrOptions({"fista", "alternating"})],
}

# models whose structure is a smooth term with a matrix M (cASO, clustered MTL)
MATRIX_STRUCTURE_CONSTRAINTS = {
    **_MultiTaskLinearModel._parameter_constraints,
    "alpha": [Interval(Real, 0, None, closed="neither")],
    "beta": [Interval(Real, 0, None, closed="neither")],
}

_TWO_PART_CONSTRAINTS = {
    **_MultiTaskLinearModel._parameter_constraints,
    "beta": [Interval(Real, 0, None, closed="left")],
}


class TwoPartRegressorBase(MultiTaskRegressorBase):
    """Regressor base of two-part models with strengths ``alpha`` and ``beta``."""

    _parameter_constraints = _TWO_PART_CONSTRAINTS

    def __init__(self, alpha=1.0, beta=1.0, *, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


class TwoPartClassifierBase(MultiTaskClassifierBase):
    """Classifier base of two-part models with strengths ``alpha`` and ``beta``."""

    _parameter_constraints = _TWO_PART_CONSTRAINTS

    def __init__(self, alpha=0.01, beta=0.01, *, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


def follow_namespace(xp, labels, X):
    """Numeric labels move to X's namespace and device (scikit-learn's array API
    rule); labels only NumPy can hold (strings, objects) stay NumPy."""
    if is_numpy_namespace(xp) or labels.dtype.kind not in "biuf":
        return labels
    return xp.asarray(labels, device=device(X))


def _to_host(value):
    """A device array as NumPy; the arrays in a tuple too (factored readouts)."""
    if isinstance(value, tuple):
        return tuple(_to_host(v) for v in value)
    if hasattr(value, "__dlpack__") and not isinstance(value, np.ndarray):
        return to_numpy(value)
    return value
