"""Estimator base classes: data model, validation, fit/predict plumbing.

An estimator subclass only says which penalty it uses (``_make_penalty``) and,
when it is not plain FISTA, how to solve (``_solve``).  Everything else --
input checks, the long and shared-design formats, task labels, intercepts,
warm starts, metadata routing of ``tasks`` -- lives here, once.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import (check_same_namespace, compute_device, device, get_namespace,
                       input_namespace, is_numpy_namespace, move_to, to_numpy)
from ._data import build_task_data, encode_tasks, lookup_tasks
from ._parts import PartsPenalty, SumOfParts, split_parts
from .losses import (
    LogisticLoss,
    SmoothlyPenalizedDataFit,
    SquaredLoss,
    make_datafit,
    optimal_intercepts_at_zero,
)
from .penalties import Zero
from .solvers import fista, use_working_set, working_set_fista

__all__ = ["MultiTaskRegressorBase", "MultiTaskClassifierBase"]

def set_params_from_init(estimator, params):
    """Store the constructor's arguments (``locals()`` of ``__init__``) as
    attributes of the same names: scikit-learn's rule that ``__init__`` only
    stores its parameters, written once for the explicit signatures that
    ``get_params`` reads."""
    for name, value in params.items():
        if name != "self" and not name.startswith("__"):
            setattr(estimator, name, value)


class _Problem:
    """A validated fit problem: the data, the data fit and how to report."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class _MultiTaskLinearModel(BaseEstimator):
    """Shared machinery of all mtlreg estimators (not public)."""

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
    _loss = None  # SquaredLoss or LogisticLoss
    _n_parts = 1  # W = P_1 + ... + P_k for decomposed models
    # Parameter -> the norm (a ``penalty`` name of :func:`mtlreg.alpha_max`)
    # that it multiplies, for the parameters above which that norm's part of
    # the model is zero; parameters of smooth terms have no such value.
    _zero_norm_map = {}

    def _zero_norms(self):
        """``{parameter: norm name}`` for the parameters with a closed-form
        ``alpha_max`` (see :func:`mtlreg.alpha_max`)."""
        return dict(self._zero_norm_map)

    # -- hooks for subclasses --------------------------------------------------
    def _make_penalty(self, xp):
        raise NotImplementedError

    def _solve(self, datafit, penalty, coef0, intercept0):
        solver = working_set_fista if use_working_set(datafit, penalty) else fista
        return solver(datafit, penalty, coef0, intercept0, tol=self.tol, max_iter=self.max_iter)

    def _store_extra(self, result, penalty, xp):
        """Family-specific fitted attributes (e.g. MTFL's feature covariance)."""

    def _wrap_datafit(self, datafit, xp):
        """Add a smooth structural term to the data fit (cASO); default: none."""
        return datafit

    @staticmethod
    def _structure_value(datafit, penalty, coef):
        """Penalty value at the solution, smooth structural terms included."""
        smooth = getattr(datafit, "smooth", None)
        return float(penalty.value(coef)) + (float(smooth.value(coef)) if smooth else 0.0)

    # -- fit -----------------------------------------------------------------------
    def _validate_X_y(self, X, y):
        xp = input_namespace(X)
        if self._loss is SquaredLoss:
            y_arr = y if not is_numpy_namespace(xp) else _as_numpy_labels(y)
            if is_numpy_namespace(xp) and y_arr.dtype.kind in "OUS":
                try:
                    y_arr.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{type(self).__name__} needs numeric y; got values of dtype "
                        f"{y_arr.dtype} (e.g. {y_arr.reshape(-1)[0]!r}). For class labels "
                        f"use the matching Classifier."
                    ) from None
            X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                                 dtype=_float_dtypes(X))
        else:
            X, y = validate_data(self, X, y, multi_output=True, dtype=_float_dtypes(X))
            y_host = _as_numpy_labels(y)
            check_classification_targets(y_host)
        xp = get_namespace(X)
        return xp, X, y

    def _prepare_targets(self, xp, X, y):
        """Regressors: targets in X's dtype.  Classifiers override."""
        return xp.astype(xp.asarray(y, device=device(X)), X.dtype)

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
        return self._fit_problem(self._problem(X, y, tasks))

    def _problem(self, X, y, tasks):
        """Validated, task-sorted data and the data fit, independent of the
        penalty parameters: :mod:`mtlreg.model_selection` builds it once and
        solves it along a path of ``alpha`` (:meth:`_fit_problem`)."""
        xp, X, y = self._validate_X_y(X, y)
        xp, X = self._to_compute_device(xp, X)
        n_samples, n_features = X.shape
        if y.ndim == 2 and y.shape[1] == 1 and tasks is not None:
            y = xp.reshape(y, (-1,))
        Y = self._prepare_targets(xp, X, y)
        task_index = None
        if tasks is not None:
            if y.ndim != 1:
                raise ValueError(
                    f"tasks was given with a 2-D y of shape {tuple(y.shape)}: pass either a "
                    "1-D y with tasks (long format) or a 2-D Y with one column per task "
                    "(shared design) and tasks=None."
                )
            labels, task_index = encode_tasks(tasks, n_samples)
            data = build_task_data(xp, X, Y, task_index, labels.shape[0],
                                   loss_scaling=self.loss_scaling)
        else:
            Y = Y if Y.ndim == 2 else Y[:, None]
            labels = np.arange(Y.shape[1])
            data = build_task_data(xp, X, Y, loss_scaling=self.loss_scaling)

        loss = self._loss()
        squared = loss.name == "squared"
        one_class_sign = None
        if squared and self.fit_intercept:
            data.center()
        if not squared and self.fit_intercept:
            data.center(center_y=False)
            one_class_sign = self._drop_one_class_tasks(xp, data)
        # The Gram form of the squared loss, w'Gw/2 - w'q + y'y/2, cancels when
        # the fit is good; float32 keeps the data path for accuracy.
        # Gram when it is cheaper: n_tasks d^2 against the (padded) samples' n d.
        padded = data.Y.shape[0] * data.Y.shape[1]
        use_gram = squared and data.n_tasks * n_features <= padded and X.dtype == xp.float64
        if use_gram:
            data.compute_gram()
        return _Problem(xp=xp, X=X, Y=Y, task_index=task_index, labels=labels,
                        shared=tasks is None, y_ndim=y.ndim, data=data, loss=loss,
                        squared=squared, one_class_sign=one_class_sign, use_gram=use_gram,
                        datafit=make_datafit(loss, data, self.fit_intercept and not squared,
                                             use_gram),
                        fit_intercept=self.fit_intercept, loss_scaling=self.loss_scaling)

    def _fit_problem(self, problem):
        """Solve a prepared problem with the current parameters."""
        if (problem.fit_intercept, problem.loss_scaling) != (self.fit_intercept,
                                                             self.loss_scaling):
            raise ValueError("fit_intercept and loss_scaling changed since the problem "
                             "was prepared.")
        xp, X, data, squared = problem.xp, problem.X, problem.data, problem.squared
        self._y_ndim = problem.y_ndim
        self._shared = problem.shared
        self.tasks_ = _follow_namespace(xp, problem.labels, X)
        self.n_tasks_ = problem.labels.shape[0]
        datafit = problem.datafit
        if self._n_parts > 1:
            datafit = SumOfParts(datafit, self._n_parts)
        datafit = self._wrap_datafit(datafit, xp)
        penalty = self._make_penalty(xp)

        coef0, intercept0 = self._initial_point(xp, data, problem.loss, squared)
        result = self._solve(datafit, penalty, coef0, intercept0)

        parts = split_parts(xp, result.coef, self._n_parts)
        coef = xp.sum(parts, axis=0)
        if squared:
            if self.fit_intercept:
                intercept = data.y_offset - xp.sum(data.X_offset * coef, axis=1)
            else:
                intercept = xp.zeros((data.n_tasks,), dtype=X.dtype, device=device(X))
        else:
            if self.fit_intercept:  # undo the centring of X
                intercept = result.intercept - xp.sum(data.X_offset * coef, axis=1)
            else:
                intercept = xp.zeros((data.n_tasks,), dtype=X.dtype, device=device(X))
            one_class_sign = problem.one_class_sign
            if one_class_sign is not None:
                coef, intercept = self._set_one_class_tasks(xp, coef, intercept, one_class_sign)
                parts = xp.stack([self._set_one_class_tasks(xp, parts[i, ...], intercept,
                                                            one_class_sign)[0]
                                  for i in range(self._n_parts)])
        self._parts = parts

        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = int(result.n_iter)
        self.objective_ = float(result.objective)
        if problem.use_gram:
            # The Gram form of F cancels on near-exact fits; report the
            # objective evaluated on the data (one pass).
            self.objective_ = _squared_objective(xp, X, problem.Y, problem.task_index,
                                                 data, coef, intercept,
                                                 self._structure_value(datafit, penalty,
                                                                       result.coef))
        self.dual_gap_ = float(result.dual_gap) if result.dual_gap is not None else None
        self.converged_ = bool(result.converged)
        self._store_extra(result, penalty, xp)
        self._fitted_to_host()
        if not result.converged:
            if result.criterion_name == "duality gap":
                detail = (f"duality gap {result.dual_gap:.3g} > tol * objective = "
                          f"{self.tol:g} * {result.objective:.6g}")
            else:
                detail = (f"{result.criterion_name} {result.criterion:.3g} above "
                          f"tol={self.tol:g}")
                if result.dual_gap is not None:
                    detail += f" (certified duality gap {result.dual_gap:.3g})"
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                f"iterations: {detail}. Increase max_iter or tol, or scale the features.",
                ConvergenceWarning,
            )
        return self

    def _to_compute_device(self, xp, X):
        """``device="cuda"``: the validated host data move to the GPU, once."""
        name = getattr(self, "device", None)
        if name is None or name == "cpu":
            if name == "cpu" and not is_numpy_namespace(xp):
                raise ValueError(
                    f"device='cpu' was given with {xp.__name__} input arrays: pass NumPy "
                    "arrays, or device=None to compute where the arrays live."
                )
            return xp, X
        if not is_numpy_namespace(xp):
            raise ValueError(
                f"device={name!r} moves NumPy inputs to the GPU; the inputs are already "
                f"{xp.__name__} arrays: leave device=None to compute where they live."
            )
        target, dev = compute_device(name)
        return target, move_to(target, dev, X)

    def _fitted_to_host(self):
        """``device="cuda"``: every fitted array attribute back as NumPy."""
        if getattr(self, "device", None) in (None, "cpu"):
            return
        for name, value in list(vars(self).items()):
            if (name.endswith("_") or name == "_parts") and hasattr(value, "__dlpack__") \
                    and not isinstance(value, np.ndarray):
                setattr(self, name, to_numpy(value))

    def _predict_warm_start(self, parts, intercept):
        """Start the next warm-started fit from ``(parts, intercept)`` (a
        path's predicted solution) instead of the last solution."""
        self._warm_point = (parts, intercept)

    def _initial_point(self, xp, data, loss, squared):
        T, d, k = data.n_tasks, data.n_features, self._n_parts
        coef0 = xp.zeros((k * T, d), dtype=data.dtype, device=data.device)
        intercept0 = None if squared or not self.fit_intercept else \
            optimal_intercepts_at_zero(loss, data)
        previous = getattr(self, "_parts", None)
        previous_b = getattr(self, "intercept_", None)
        predicted = self.__dict__.pop("_warm_point", None)
        if predicted is not None:
            previous, previous_b = predicted
        if self.warm_start and previous is not None and tuple(previous.shape) == (k, T, d):
            coef0 = xp.reshape(xp.astype(xp.asarray(previous, device=data.device), data.dtype),
                               (k * T, d))
            if intercept0 is not None and previous_b is not None:
                b = xp.astype(xp.asarray(previous_b, device=data.device), data.dtype)
                # the solver works with centred X: b' = b + mean_t(x) . w_t
                w = xp.sum(xp.reshape(coef0, (k, T, d)), axis=0)
                intercept0 = b + xp.sum(data.X_offset * w, axis=1)
        return coef0, intercept0

    def _drop_one_class_tasks(self, xp, data):
        return None

    # -- predict -----------------------------------------------------------------
    def _linear_predictor(self, X, tasks, method="predict"):
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="coef_", method=method)
        X = validate_data(self, X, reset=False, dtype=_float_dtypes(X))
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


class NormPenaltyMixin:
    """Estimators whose penalty is ``_penalty_class(xp, alpha, ridge=ridge)``."""

    _penalty_class = None

    def _make_penalty(self, xp):
        return self._penalty_class(xp, self.alpha, ridge=self.ridge)


class DecomposedModelMixin:
    """Estimators of ``W = P_1 + ... + P_k`` with one penalty per part.

    Subclasses give ``_part_penalties(xp)`` (one penalty per part, in order)
    and ``_part_attributes`` (the fitted attribute of each part); the solver
    runs on the stacked parts (:mod:`mtlreg._parts`).  When ``_outlier_part``
    names a part penalized by whole tasks, ``outlier_tasks_`` lists the tasks
    whose row of that part is non-zero.
    """

    _parameter_constraints = {
        **_MultiTaskLinearModel._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
    }
    _part_attributes = ()
    _outlier_part = None

    @property
    def _n_parts(self):
        return len(self._part_attributes)

    def _ceiling_constants(self, n_tasks, n_features):
        """``{parameter: (other parameter, c, kappa)}`` for the norms ``A`` of
        that parameter's part and ``B`` of the other part: ``A* <= c B*`` and
        ``A* <= kappa ||.||_F`` on the dual norms (see :meth:`_part_ceilings`)."""
        return {}

    def _part_ceilings(self, n_tasks, n_features, zero_objective):
        """``{parameter: value}`` above which that parameter's part is zero
        whatever the data, given the other strength ``s``, ``ridge`` and the
        objective at zero ``F(0) = zero_objective``: ``c s + 2 kappa sqrt(ridge F(0))``.

        With the part zero, the other part ``Q`` solves its own problem, whose
        optimality gives ``-grad f(Q) = s g + 2 ridge Q`` with ``B*(g) <= 1``;
        the part stays zero iff ``A*(grad f(Q)) <= alpha``, and
        ``A*(grad f(Q)) <= c s + 2 ridge kappa ||Q||_F`` where
        ``ridge ||Q||_F^2 <= F(0)`` (the losses are non-negative).  With
        ``ridge = 0`` this is ``c s``: moving the part into the other one would
        not cost more.  Grids start no higher
        (:func:`mtlreg.model_selection.alpha_grid`)."""
        extra = 2.0 * math.sqrt(self.ridge * max(zero_objective, 0.0))
        return {param: c * getattr(self, other) + kappa * extra
                for param, (other, c, kappa) in
                self._ceiling_constants(n_tasks, n_features).items()}

    def _part_penalties(self, xp):
        raise NotImplementedError

    def _make_penalty(self, xp):
        return PartsPenalty(xp, self._part_penalties(xp))

    def _store_extra(self, result, penalty, xp):
        for i, name in enumerate(self._part_attributes):
            setattr(self, name, self._parts[i, ...])
        if self._outlier_part is not None:
            part = self._parts[self._outlier_part, ...]
            flagged = np.flatnonzero(to_numpy(xp.any(part != 0, axis=1)))
            labels = self.tasks_
            self.outlier_tasks_ = labels[flagged] if isinstance(labels, np.ndarray) else \
                xp.take(labels, xp.asarray(flagged, device=device(labels)), axis=0)


class MatrixStructureMixin:
    """Estimators whose structural term is ``c * min_M tr(W_s^T (eta I + M)^-1 W_s)``
    with ``M`` minimized in closed form (cASO, clustered MTL): a smooth term
    of ``W`` in the data fit, a zero prox penalty, a certified gap through
    the term's conjugate (:mod:`mtlreg.penalties.aso`).

    Subclasses set ``_structure_class`` (the term), ``_count_param`` (the
    constructor parameter giving ``tr M``) and ``_matrix_attribute`` (the
    fitted attribute holding the optimal ``M``).
    """

    _parameter_constraints = {
        **_MultiTaskLinearModel._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
    }
    _structure_class = None
    _count_param = None
    _matrix_attribute = None

    def _structure_term(self, xp):
        return self._structure_class(xp, self.alpha, self.beta, getattr(self, self._count_param),
                                     ridge=self.ridge)

    def _wrap_datafit(self, datafit, xp):
        k = getattr(self, self._count_param)
        over_tasks = self._structure_class.over_tasks
        space = "n_tasks" if over_tasks else "n_features"
        size = datafit.data.n_tasks if over_tasks else datafit.data.n_features
        if k > size:
            raise ValueError(
                f"{self._count_param}={k} exceeds {space}={size}: tr M = "
                f"{self._count_param} needs 0 <= M <= I with M of size {space}."
            )
        return SmoothlyPenalizedDataFit(datafit, self._structure_term(xp))

    def _make_penalty(self, xp):
        return Zero(xp)

    def _store_extra(self, result, penalty, xp):
        setattr(self, self._matrix_attribute, self._structure_term(xp).optimal_M(self.coef_))


class MultiTaskRegressorBase(RegressorMixin, _MultiTaskLinearModel):
    """Regressor base: squared loss."""

    _loss = SquaredLoss

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
    ``w_t = 0``, ``b_t -> +-inf``.  That limit does not change the other
    tasks' problem, so such a task is left out of the joint solve and gets
    ``coef_[t] = 0`` and ``intercept_[t] = +-log(1 / eps)`` (probability
    ``1 - eps`` for its class).
    """

    _loss = LogisticLoss

    def __init__(self, alpha=0.01, *, ridge=0.0, loss_scaling="mean", fit_intercept=True,
                 tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())

    def _prepare_targets(self, xp, X, y):
        y_host = _as_numpy_labels(y)
        classes = np.unique(y_host)
        if classes.shape[0] > 2:
            raise ValueError(
                f"Only binary classification is supported: {type(self).__name__} fits one "
                f"logistic model per task, and y has {classes.shape[0]} classes: "
                f"{classes[:10].tolist()}. Fit one model per class (one-vs-rest) for more."
            )
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of two classes in y; got only one "
                f"class: {classes.tolist()}."
            )
        self.classes_ = _follow_namespace(xp, classes, X)
        signs = np.where(y_host == classes[1], 1.0, -1.0)
        return xp.asarray(signs, dtype=X.dtype, device=device(X))

    def _drop_one_class_tasks(self, xp, data):
        return drop_one_class_tasks(xp, data)

    def _set_one_class_tasks(self, xp, coef, intercept, sign):
        dev = device(coef)
        eps = float(xp.finfo(coef.dtype).eps)
        s = xp.asarray(sign, dtype=coef.dtype, device=dev)
        drop = s != 0
        coef = xp.where(drop[:, None], xp.zeros_like(coef), coef)
        intercept = xp.where(drop, s * math.log(1.0 / eps), intercept)
        return coef, intercept

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
        y_true = _as_numpy_labels(y)
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


class TwoPartRegressorBase(DecomposedModelMixin, MultiTaskRegressorBase):
    """Regressor base of two-part models with strengths ``alpha`` and ``beta``."""

    def __init__(self, alpha=1.0, beta=1.0, *, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


class TwoPartClassifierBase(DecomposedModelMixin, MultiTaskClassifierBase):
    """Classifier base of two-part models with strengths ``alpha`` and ``beta``."""

    def __init__(self, alpha=0.01, beta=0.01, *, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


def _as_numpy_labels(y):
    if hasattr(y, "to_numpy"):
        return np.asarray(y.to_numpy())
    if isinstance(y, np.ndarray):
        return y
    try:
        return to_numpy(y)
    except (TypeError, AttributeError, ValueError):
        return np.asarray(y)


def _float_dtypes(X):
    """float64 then float32, in the namespace scikit-learn will validate X with."""
    xp = input_namespace(X)
    if is_numpy_namespace(xp):
        return (np.float64, np.float32)
    return (xp.float64, xp.float32)


def drop_one_class_tasks(xp, data):
    """Give zero loss weight to tasks whose labels are all one class.

    With fitted intercepts such a task's loss vanishes only in the limit
    ``b_t -> +-inf`` with ``w_t = 0``, which leaves the other tasks' problem
    unchanged.  Returns the sign of each dropped task's class (0 if kept), or
    None when no task is dropped.
    """
    pos = to_numpy(data.sample_sum(xp.astype(data.Y > 0, data.dtype)))
    neg = to_numpy(data.sample_sum(xp.astype(data.Y < 0, data.dtype)))
    one_class = (pos == 0) | (neg == 0)
    if not one_class.any():
        return None
    keep = xp.asarray((~one_class).astype(np.float64), dtype=data.dtype, device=data.device)
    data.weight = data.weight * data.expand(keep)[:, None]
    data.task_weight = data.task_weight * keep
    return np.where(one_class, np.where(pos > 0, 1.0, -1.0), 0.0)


def _follow_namespace(xp, labels, X):
    """Numeric labels move to X's namespace and device (scikit-learn's array API
    rule); labels only NumPy can hold (strings, objects) stay NumPy."""
    if is_numpy_namespace(xp) or labels.dtype.kind not in "biuf":
        return labels
    return xp.asarray(labels, device=device(X))


def _squared_objective(xp, X, Y, task_index, data, coef, intercept, penalty_value):
    """``sum_t c_t ||y_t - X_t w_t - b_t||^2 / 2 + penalty(W)`` from the raw data."""
    if task_index is None:  # shared design, Y of shape (n_samples, n_tasks)
        R = Y - X @ xp.permute_dims(coef, (1, 0)) - intercept[None, :]
        F = 0.5 * xp.sum(data.task_weight[None, :] * R * R)
    else:
        idx = xp.asarray(task_index, device=device(X))
        r = Y - xp.sum(X * xp.take(coef, idx, axis=0), axis=1) - xp.take(intercept, idx, axis=0)
        F = 0.5 * xp.sum(xp.take(data.task_weight, idx, axis=0) * r * r)
    return float(F) + penalty_value
