"""Task-aware metrics and scorers.

The pitfall
-----------
A multi-task model predicts a sample with the model of the sample's task, so
its ``predict`` needs the task labels: ``est.predict(X, tasks=labels)``.
scikit-learn's string scorers (``scoring="r2"``,
``"neg_mean_squared_error"``, ...) call ``estimator.predict(X)`` *without*
them.  For an mtlreg model fitted in long format on more than one task that
raises a ValueError; other multi-task packages silently return a wrong
prediction or NaN scores.  Even with metadata routing switched on,
scikit-learn's string scorers never forward ``tasks``.  Note also that
``GridSearchCV.predict`` routes no metadata: predict with
``search.best_estimator_.predict(X, tasks=...)``.

The fix
-------
The metric functions here take the task labels and compute the metric within
each task, then average over tasks (``average="tasks"``), weight the tasks by
their number of samples (``average="samples"``) or return the per-task values
(``average=None``).  :class:`TaskScorer` (built by :func:`get_scorer`) calls
``predict(X, tasks=tasks)`` and requests ``tasks`` through scikit-learn's
metadata routing by default::

    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold
    from mtlreg import L21Regressor
    from mtlreg.metrics import get_scorer

    sklearn.set_config(enable_metadata_routing=True)
    est = L21Regressor().set_fit_request(tasks=True)
    search = GridSearchCV(est, {"alpha": [0.01, 0.1]}, cv=KFold(5, shuffle=True),
                          scoring=get_scorer("neg_mean_squared_error"))
    search.fit(X, y, tasks=tasks)
    search.best_estimator_.predict(X_new, tasks=tasks_new)

Input forms, common to every metric:

* long format: 1-D ``y_true`` and ``y_pred`` with ``tasks`` (one label per
  sample); the tasks are the sorted unique labels (``np.unique``);
* shared design: 2-D ``y_true`` and ``y_pred`` of shape ``(n_samples,
  n_tasks)`` and ``tasks=None``: column ``j`` is task ``j``;
* 1-D ``y_true`` and ``y_pred`` without ``tasks``: a single task.

Notation used in the formulas: ``w_i`` is the sample weight (1 without
``sample_weight``), ``W_t = sum_{i in t} w_i`` the weight of task ``t``,
``ybar_t = sum_{i in t} w_i y_i / W_t`` and
``Var_t(v) = sum_{i in t} w_i (v_i - vbar_t)^2 / W_t`` the weighted mean and
variance within task ``t`` of the evaluated samples.
"""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score
from sklearn.utils._metadata_requests import (
    MetadataRequest,
    _MetadataRequester,
    _routing_enabled,
    get_routing_for_object,
)

from ._backend import to_numpy
from ._data import _labels_to_numpy, encode_tasks

__all__ = [
    "TaskScorer",
    "default_scorer",
    "get_scorer",
    "get_scorer_names",
    "task_accuracy_score",
    "task_explained_variance_score",
    "task_mean_squared_error",
    "task_normalized_mean_squared_error",
    "task_r2_score",
    "task_roc_auc_score",
]

_AVERAGES = ("tasks", "samples", None)


# --------------------------------------------------------------------- inputs

_REGRESSION_PARAMS = """Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True targets: 1-D with ``tasks`` (long format), 2-D with one column
        per task and ``tasks=None`` (shared design), or 1-D without
        ``tasks`` (one task).
    y_pred : array-like of the same shape as ``y_true``
        Predicted targets.
    tasks : array-like of shape (n_samples,), default=None
        Task label of each sample (sortable hashable values), for 1-D
        inputs.  The tasks are the sorted unique labels.
    average : {"tasks", "samples"} or None, default="tasks"
        ``"tasks"``: uniform mean over tasks, ``(1/T) sum_t m_t``.
        ``"samples"``: ``sum_t W_t m_t / sum_t W_t``, each task weighted by
        its number of evaluated samples (its total sample weight).
        ``None``: the per-task values ``m_t``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample (of each row for 2-D inputs).

    Returns
    -------
    float or ndarray of shape (n_tasks,)
        The averaged value; with ``average=None`` the per-task values in
        task order (sorted unique labels, or column order for 2-D inputs)."""


def _shared_doc(func):
    """Put the parameters every regression metric shares into its docstring."""
    func.__doc__ = func.__doc__.replace("{regression_params}", _REGRESSION_PARAMS)
    return func


def _as_numpy(x):
    """A NumPy array from a list, NumPy array, pandas object or array-API array."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "to_numpy"):  # pandas Series / DataFrame
        return np.asarray(x.to_numpy())
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    if hasattr(x, "__array_namespace__"):  # array-API arrays: CuPy, array-api-strict, ...
        return to_numpy(x)
    return np.asarray(x)


def _as_float(a, name):
    # strings are labels, not numbers, even when they spell one ("1.5")
    strings = a.dtype.kind in "US" or (a.dtype.kind == "O" and any(
        isinstance(v, (str, bytes)) for v in a.reshape(-1)))
    try:
        if strings:
            raise TypeError
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        example = a.reshape(-1)[0] if a.size else None
        raise ValueError(
            f"{name} must be numeric; got values of dtype {a.dtype} (e.g. {example!r})."
        ) from None


def _check_finite(a, name):
    if not np.all(np.isfinite(a)):
        bad = "NaN" if np.isnan(a).any() else "infinity"
        raise ValueError(f"{name} contains {bad}; every value must be finite.")


def _check_average(average):
    if not (average is None or (isinstance(average, str) and average in _AVERAGES)):
        raise ValueError(
            f"average must be 'tasks', 'samples' or None; got {average!r}."
        )


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    w = _as_float(_as_numpy(sample_weight), "sample_weight")
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D; got shape {w.shape}.")
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {w.shape[0]} values but y_true has {n_samples} samples; "
            "give one weight per sample."
        )
    _check_finite(w, "sample_weight")
    if np.any(w < 0):
        raise ValueError("sample_weight has negative values; weights must be >= 0.")
    return w


class _TaskSamples:
    """Evaluated samples grouped by task: task ``t`` holds the positions
    ``starts[t]:stops[t]`` of ``y_true``, ``y_pred`` and ``weight``."""

    def __init__(self, y_true, y_pred, weight, labels, starts):
        self.y_true = y_true
        self.y_pred = y_pred
        self.weight = weight
        self.labels = labels
        self.starts = starts
        self.stops = np.append(starts[1:], y_true.shape[0])
        self.n_tasks = labels.shape[0]
        self.index = np.repeat(np.arange(self.n_tasks), self.stops - self.starts)
        self.task_weight = self.sum(weight)
        empty = self.task_weight <= 0
        if np.any(empty):
            raise ValueError(
                f"task(s) {_show(labels[empty])} have zero total sample weight; their "
                "metric is undefined."
            )

    def sum(self, v):
        """``sum_{i in t} v_i`` for every task ``t``."""
        return np.add.reduceat(v, self.starts)

    def mean(self, v):
        """Weighted mean ``sum_{i in t} w_i v_i / W_t`` for every task."""
        return self.sum(self.weight * v) / self.task_weight

    def sum_squared_deviation(self, v):
        """``sum_{i in t} w_i (v_i - vbar_t)^2``, exactly 0 for a task whose
        (positively weighted) values are all equal, whatever the rounding of
        ``vbar_t``."""
        d = v - self.mean(v)[self.index]
        ss = self.sum(self.weight * d * d)
        positive = self.weight > 0
        vmin = np.minimum.reduceat(np.where(positive, v, np.inf), self.starts)
        vmax = np.maximum.reduceat(np.where(positive, v, -np.inf), self.starts)
        ss[vmin == vmax] = 0.0
        return ss


def _show(labels, limit=10):
    items = [repr(v) for v in labels[:limit].tolist()]
    more = f" and {labels.shape[0] - limit} more" if labels.shape[0] > limit else ""
    return ", ".join(items) + more


def _task_samples(y_true, y_pred, tasks, sample_weight, *, numeric_true, numeric_pred):
    """Validate the inputs of a metric and group the samples by task."""
    yt = _as_numpy(y_true)
    yp = _as_numpy(y_pred)
    if yt.ndim not in (1, 2):
        raise ValueError(
            f"y_true must be 1-D (one task, or long format with tasks) or 2-D (n_samples, "
            f"n_tasks); got shape {yt.shape}."
        )
    if yp.shape != yt.shape:
        raise ValueError(
            f"y_pred has shape {yp.shape} but y_true has shape {yt.shape}; they must match "
            "(a shared-design model predicts (n_samples, n_tasks) without tasks)."
        )
    n_samples = yt.shape[0]
    if n_samples == 0:
        raise ValueError("y_true is empty: a metric needs at least one sample.")
    if numeric_true:
        yt = _as_float(yt, "y_true")
        _check_finite(yt, "y_true")
    if numeric_pred:
        yp = _as_float(yp, "y_pred")
        _check_finite(yp, "y_pred")
    w = _check_sample_weight(sample_weight, n_samples)

    if yt.ndim == 2:
        if tasks is not None:
            raise ValueError(
                f"tasks was given with a 2-D y_true of shape {yt.shape}: pass either 1-D "
                "y_true / y_pred with tasks (long format) or 2-D ones with one column per "
                "task (shared design) and tasks=None."
            )
        n_tasks = yt.shape[1]
        if n_tasks == 0:
            raise ValueError("y_true has no columns: a 2-D y_true needs one column per task.")
        # column-major flattening: task j holds rows j*n:(j+1)*n
        return _TaskSamples(yt.T.reshape(-1), yp.T.reshape(-1), np.tile(w, n_tasks),
                            np.arange(n_tasks), np.arange(n_tasks) * n_samples)
    if tasks is None:
        return _TaskSamples(yt, yp, w, np.array([0]), np.array([0]))

    labels_in = _labels_to_numpy(tasks)
    if labels_in.shape[0] != n_samples:
        raise ValueError(
            f"tasks has {labels_in.shape[0]} labels but y_true has {n_samples} samples; "
            "give one task label per sample."
        )
    labels, index = encode_tasks(labels_in, n_samples)
    order = np.argsort(index, kind="stable")
    starts = np.searchsorted(index[order], np.arange(labels.shape[0]))
    return _TaskSamples(yt[order], yp[order], w[order], labels, starts)


def _average(values, task_weight, average):
    """Combine per-task values; NaN tasks (undefined metric) are left out."""
    if average is None:
        return values
    defined = ~np.isnan(values)
    if not np.any(defined):
        return float("nan")
    if average == "tasks":
        return float(np.mean(values[defined]))
    return float(np.sum(task_weight[defined] * values[defined]) / np.sum(task_weight[defined]))


def _one_minus_ratio(numerator, denominator):
    """``1 - numerator / denominator`` per task, with scikit-learn's
    ``force_finite=True`` rule for a zero denominator: 1 if the numerator is 0
    too (perfect predictions), else 0."""
    out = np.ones_like(numerator)
    nonzero_num = numerator != 0
    nonzero_den = denominator != 0
    valid = nonzero_num & nonzero_den
    out[valid] = 1.0 - numerator[valid] / denominator[valid]
    out[nonzero_num & ~nonzero_den] = 0.0
    return out


def _regression_samples(y_true, y_pred, tasks, sample_weight, average):
    _check_average(average)
    return _task_samples(y_true, y_pred, tasks, sample_weight,
                         numeric_true=True, numeric_pred=True)


# -------------------------------------------------------------------- metrics


@_shared_doc
def task_mean_squared_error(y_true, y_pred, tasks=None, *, average="tasks", sample_weight=None):
    """Mean squared error within each task.

    For task ``t``::

        MSE_t = sum_{i in t} w_i (y_i - yhat_i)^2 / sum_{i in t} w_i

    With ``average="samples"`` the result is the pooled mean squared error
    over all samples, ``sum_i w_i (y_i - yhat_i)^2 / sum_i w_i``.

    {regression_params}
    """
    s = _regression_samples(y_true, y_pred, tasks, sample_weight, average)
    r = s.y_true - s.y_pred
    mse = s.sum(s.weight * r * r) / s.task_weight
    return _average(mse, s.task_weight, average)


@_shared_doc
def task_normalized_mean_squared_error(y_true, y_pred, tasks=None, *, average="tasks",
                                       sample_weight=None):
    """Mean squared error of each task divided by the variance of its targets.

    For task ``t``::

        nMSE_t = MSE_t / Var_t(y)
               = sum_{i in t} w_i (y_i - yhat_i)^2 / sum_{i in t} w_i (y_i - ybar_t)^2
               = 1 - R2_t

    where ``Var_t(y)`` is the weighted variance of the task's true targets in
    the evaluated set and ``R2_t`` is :func:`task_r2_score`'s per-task value.
    A task whose targets are all equal (``Var_t(y) = 0``) follows
    scikit-learn's ``r2_score(force_finite=True)`` convention, ``R2_t = 1``
    for exact predictions and 0 otherwise, and keeps the identity
    ``nMSE_t = 1 - R2_t`` (0 or 1).

    {regression_params}
    """
    return _r2_or_nmse(y_true, y_pred, tasks, sample_weight, average, normalized_mse=True)


@_shared_doc
def task_explained_variance_score(y_true, y_pred, tasks=None, *, average="tasks",
                                  sample_weight=None):
    """Explained variance within each task.

    For task ``t``::

        EV_t = 1 - Var_t(y - yhat) / Var_t(y)

    A task whose targets are all equal (``Var_t(y) = 0``) follows
    scikit-learn's ``explained_variance_score(force_finite=True)``:
    ``EV_t = 1`` if ``Var_t(y - yhat) = 0`` and 0 otherwise.  A variance
    counts as zero when all the task's (positively weighted) values are
    equal, independently of how the mean rounds.

    {regression_params}
    """
    s = _regression_samples(y_true, y_pred, tasks, sample_weight, average)
    residual_var = s.sum_squared_deviation(s.y_true - s.y_pred)
    target_var = s.sum_squared_deviation(s.y_true)
    ev = _one_minus_ratio(residual_var, target_var)
    return _average(ev, s.task_weight, average)


@_shared_doc
def task_r2_score(y_true, y_pred, tasks=None, *, average="tasks", sample_weight=None):
    """Coefficient of determination within each task.

    For task ``t``::

        R2_t = 1 - SSE_t / SST_t
        SSE_t = sum_{i in t} w_i (y_i - yhat_i)^2
        SST_t = sum_{i in t} w_i (y_i - ybar_t)^2

    A task whose targets are all equal (``SST_t = 0``) follows scikit-learn's
    ``r2_score(force_finite=True)``: ``R2_t = 1`` if ``SSE_t = 0`` and 0
    otherwise.  On a shared design, ``average="tasks"`` is scikit-learn's
    ``r2_score(Y, Yhat, multioutput="uniform_average")``.

    {regression_params}
    """
    return _r2_or_nmse(y_true, y_pred, tasks, sample_weight, average, normalized_mse=False)


def _r2_or_nmse(y_true, y_pred, tasks, sample_weight, average, *, normalized_mse):
    s = _regression_samples(y_true, y_pred, tasks, sample_weight, average)
    r = s.y_true - s.y_pred
    r2 = _one_minus_ratio(s.sum(s.weight * r * r), s.sum_squared_deviation(s.y_true))
    return _average(1.0 - r2 if normalized_mse else r2, s.task_weight, average)


def _equal(a, b):
    if (a.dtype.kind in "OUS") != (b.dtype.kind in "OUS"):
        # strings against numbers: compare as Python objects (1 != "1")
        a, b = a.astype(object), b.astype(object)
    return np.asarray(a == b, dtype=bool)


def task_accuracy_score(y_true, y_pred, tasks=None, *, average="tasks", sample_weight=None):
    """Fraction of correctly predicted labels within each task.

    For task ``t``::

        accuracy_t = sum_{i in t} w_i [yhat_i == y_i] / sum_{i in t} w_i

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True class labels: 1-D with ``tasks`` (long format), 2-D with one
        column per task and ``tasks=None`` (shared design), or 1-D without
        ``tasks`` (one task).
    y_pred : array-like of the same shape as ``y_true``
        Predicted class labels.
    tasks : array-like of shape (n_samples,), default=None
        Task label of each sample (sortable hashable values), for 1-D
        inputs.  The tasks are the sorted unique labels.
    average : {"tasks", "samples"} or None, default="tasks"
        ``"tasks"``: uniform mean over tasks, ``(1/T) sum_t m_t``.
        ``"samples"``: ``sum_t W_t m_t / sum_t W_t``, each task weighted by
        its number of evaluated samples (its total sample weight); this is
        the pooled accuracy over all samples.
        ``None``: the per-task values ``m_t``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample (of each row for 2-D inputs).

    Returns
    -------
    float or ndarray of shape (n_tasks,)
        The averaged value; with ``average=None`` the per-task values in
        task order (sorted unique labels, or column order for 2-D inputs).
    """
    _check_average(average)
    s = _task_samples(y_true, y_pred, tasks, sample_weight,
                      numeric_true=False, numeric_pred=False)
    correct = _equal(s.y_true, s.y_pred).astype(np.float64)
    accuracy = s.sum(s.weight * correct) / s.task_weight
    return _average(accuracy, s.task_weight, average)


def task_roc_auc_score(y_true, y_pred, tasks=None, *, average="tasks", sample_weight=None,
                       pos_label=None):
    """Area under the ROC curve within each task.

    For task ``t``, ``AUC_t`` is :func:`sklearn.metrics.roc_auc_score` on the
    task's samples (with their weights): the (weighted) probability that a
    positive sample of the task scores above a negative one, ties counting
    one half.  A task whose evaluated samples hold only one class has no
    AUC: it is NaN in the per-task output, it is left out of the averages,
    and an :class:`~sklearn.exceptions.UndefinedMetricWarning` names it.  If
    no task has both classes, the averaged result is NaN (with the warning).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
        True binary class labels: 1-D with ``tasks`` (long format), 2-D
        with one column per task and ``tasks=None`` (shared design), or 1-D
        without ``tasks`` (one task).
    y_pred : array-like of the same shape as ``y_true``
        Continuous scores of the positive class, e.g. the logits given by
        ``decision_function``.
    tasks : array-like of shape (n_samples,), default=None
        Task label of each sample (sortable hashable values), for 1-D
        inputs.  The tasks are the sorted unique labels.
    average : {"tasks", "samples"} or None, default="tasks"
        ``"tasks"``: uniform mean over the tasks with a defined AUC.
        ``"samples"``: ``sum_t W_t AUC_t / sum_t W_t`` over those tasks, each
        weighted by its number of evaluated samples (its total sample
        weight).  ``None``: the per-task values (NaN where undefined).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample (of each row for 2-D inputs).
    pos_label : label, default=None
        The positive class, whose score ``y_pred`` is.  ``None``: the larger
        of the two labels of ``y_true`` (the last in ``np.unique`` order), as
        in scikit-learn.  mtlreg's scorer passes the estimator's
        ``classes_[1]``, the class whose logit ``decision_function`` gives.

    Returns
    -------
    float or ndarray of shape (n_tasks,)
        The averaged value; with ``average=None`` the per-task values in
        task order (sorted unique labels, or column order for 2-D inputs).
    """
    _check_average(average)
    s = _task_samples(y_true, y_pred, tasks, sample_weight,
                      numeric_true=False, numeric_pred=True)
    try:
        classes = np.unique(s.y_true)
    except TypeError as exc:
        raise ValueError(f"y_true labels must be mutually comparable: {exc}") from exc
    if classes.shape[0] > 2:
        raise ValueError(
            f"task_roc_auc_score needs binary labels; y_true has {classes.shape[0]} classes: "
            f"{_show(classes)}."
        )
    if pos_label is None:
        pos_label = classes[-1]
    elif classes.shape[0] == 2 and pos_label not in classes.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} is not one of the labels of y_true: {_show(classes)}."
        )
    positive = _equal(s.y_true, np.full(s.y_true.shape, pos_label, dtype=object))
    auc = np.full(s.n_tasks, np.nan)
    weighted = s.weight > 0
    for t in range(s.n_tasks):  # roc_auc_score works one task at a time
        part = slice(s.starts[t], s.stops[t])
        pos, w = positive[part], s.weight[part]
        if np.any(pos & weighted[part]) and np.any(~pos & weighted[part]):
            auc[t] = roc_auc_score(pos, s.y_pred[part],
                                   sample_weight=None if sample_weight is None else w)
    undefined = np.isnan(auc)
    if np.any(undefined):
        if average is not None and np.all(undefined):
            detail = "the averaged AUC is NaN."
        else:
            detail = ("their AUC is NaN" + (" and left out of the average."
                                            if average is not None else "."))
        warnings.warn(
            f"ROC AUC is undefined for task(s) {_show(s.labels[undefined])}: their evaluated "
            f"samples hold only one class; {detail}",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return _average(auc, s.task_weight, average)


# -------------------------------------------------------------------- scorers
_RESPONSE_METHODS = ("predict", "decision_function")
_SCORE_PARAMS = ("tasks", "sample_weight")


def _final_step(estimator):
    """The mtlreg estimator inside a Pipeline (or the estimator itself)."""
    step = getattr(estimator, "_final_estimator", estimator)
    return estimator if isinstance(step, str) else step  # "passthrough"


class TaskScorer(_MetadataRequester):
    """Scorer that predicts with the task labels and scores within each task.

    ``scorer(estimator, X, y_true, tasks=None, sample_weight=None)`` returns::

        sign * metric(y_true, getattr(estimator, response_method)(X, tasks=tasks),
                      tasks, average=average, sample_weight=sample_weight,
                      **metric_kwargs)

    as a Python float (``tasks`` is not passed to the estimator when it is
    None).  Under scikit-learn's metadata routing the scorer requests
    ``tasks`` by default, so ``GridSearchCV(..., scoring=scorer).fit(X, y,
    tasks=tasks)`` and ``cross_validate(..., scoring=scorer,
    params={"tasks": tasks})`` score each test fold with its task labels (the
    estimator still needs ``set_fit_request(tasks=True)``).
    ``sample_weight`` is not requested by default; change either with
    :meth:`set_score_request`.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred, tasks, *, average, sample_weight, **kwargs)``,
        e.g. one of this module's ``task_*`` functions.
    sign : {1, -1}, default=1
        -1 for an error (lower is better), so that greater is better.
    response_method : {"predict", "decision_function"}, default="predict"
        The estimator method that gives ``y_pred``.  With
        ``"decision_function"`` the metric also gets
        ``pos_label=estimator.classes_[1]``, the class whose logit it is.
    average : {"tasks", "samples"}, default="tasks"
        Passed to the metric; see :func:`task_mean_squared_error`.
    name : str, default=None
        A name for messages; the metric's name if None.
    **metric_kwargs
        Further keyword arguments of the metric.

    Examples
    --------
    >>> from mtlreg.metrics import TaskScorer, task_r2_score
    >>> TaskScorer(task_r2_score)
    TaskScorer(task_r2_score, sign=1, average='tasks')
    """

    def __init__(self, metric, *, sign=1, response_method="predict", average="tasks",
                 name=None, **metric_kwargs):
        if not callable(metric):
            raise TypeError(f"metric must be callable; got {metric!r}.")
        if sign not in (1, -1) or isinstance(sign, bool):
            raise ValueError(f"sign must be 1 or -1; got {sign!r}.")
        if response_method not in _RESPONSE_METHODS:
            raise ValueError(
                f"response_method must be one of {_RESPONSE_METHODS}; got {response_method!r}."
            )
        if average is None:
            raise ValueError(
                "a scorer returns one number: average must be 'tasks' or 'samples', not None."
            )
        _check_average(average)
        if response_method == "decision_function" and "pos_label" in metric_kwargs:
            raise ValueError(
                "pos_label is taken from the estimator (classes_[1], the class whose logit "
                "decision_function returns); do not pass it to a decision_function scorer."
            )
        self.metric = metric
        self.sign = sign
        self.response_method = response_method
        self.average = average
        self.name = getattr(metric, "__name__", repr(metric)) if name is None else name
        self.metric_kwargs = dict(metric_kwargs)

    def __call__(self, estimator, X, y_true, tasks=None, sample_weight=None):
        """Score ``estimator`` on ``X`` against ``y_true``.

        Parameters
        ----------
        estimator : fitted estimator
        X : array-like of shape (n_samples, n_features)
        y_true : array-like of shape (n_samples,) or (n_samples, n_tasks)
            2-D for a shared-design model scored without ``tasks``.
        tasks : array-like of shape (n_samples,), default=None
            Task label of each sample; required for a model fitted in long
            format on more than one task.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        final = _final_step(estimator)
        if tasks is None and not getattr(final, "_shared", True) \
                and getattr(final, "n_tasks_", 1) > 1:
            raise ValueError(
                f"{self!r} needs the task label of each sample: {type(final).__name__} was "
                f"fitted in long format on {final.n_tasks_} tasks and cannot predict without "
                "them. Call scorer(estimator, X, y, tasks=tasks). In GridSearchCV / "
                "cross_validate route them: sklearn.set_config(enable_metadata_routing=True), "
                "est.set_fit_request(tasks=True), then GridSearchCV(...).fit(X, y, "
                "tasks=tasks) or cross_validate(..., params={'tasks': tasks}) (this scorer "
                "requests tasks unless set_score_request(tasks=False) was called)."
            )
        method = getattr(estimator, self.response_method)
        y_pred = method(X) if tasks is None else method(X, tasks=tasks)
        y_pred = _as_numpy(y_pred)
        n_dims = len(getattr(y_true, "shape", np.shape(y_true)))
        if y_pred.ndim == 2 and n_dims != 2:
            raise ValueError(
                f"{type(final).__name__} was fitted on a shared design and predicts every "
                f"task, shape {y_pred.shape}, without tasks: score it with a 2-D y_true of "
                f"one column per task, or pass tasks=... (column indices)."
            )
        kwargs = dict(self.metric_kwargs)
        if self.response_method == "decision_function":
            kwargs["pos_label"] = _as_numpy(estimator.classes_)[1]
        value = self.metric(y_true, y_pred, tasks, average=self.average,
                            sample_weight=sample_weight, **kwargs)
        return float(self.sign * value)

    def __repr__(self):
        metric = getattr(self.metric, "__name__", repr(self.metric))
        text = f"TaskScorer({metric}, sign={self.sign}"
        if self.response_method != "predict":
            text += f", response_method={self.response_method!r}"
        text += f", average={self.average!r}"
        text += "".join(f", {k}={v!r}" for k, v in self.metric_kwargs.items())
        return text + ")"

    def _routing_repr(self):
        return repr(self)

    def _accept_sample_weight(self):
        # scikit-learn asks this when routing is off and sample_weight is given
        return True

    # -- metadata routing ------------------------------------------------------
    def set_score_request(self, **kwargs):
        """Request metadata for the scorer: ``tasks`` and ``sample_weight``.

        Only available under ``sklearn.set_config(enable_metadata_routing=True)``.
        The defaults are ``tasks=True`` (requested) and ``sample_weight=None``
        (not requested; an error if passed); parameters not named here keep
        their current request.

        Parameters
        ----------
        tasks, sample_weight : bool, None or str
            ``True``: request and pass on; ``False``: do not pass on; ``None``:
            raise if given; a str: an alias to request instead.

        Returns
        -------
        self
        """
        if not _routing_enabled():
            raise RuntimeError(
                "set_score_request is only available when metadata routing is enabled. "
                "You can enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        unknown = sorted(set(kwargs) - set(_SCORE_PARAMS))
        if unknown:
            raise TypeError(
                f"Unexpected args: {unknown} in set_score_request; a TaskScorer accepts "
                f"{list(_SCORE_PARAMS)}."
            )
        current = self._get_metadata_request().score.requests
        request = MetadataRequest(owner=self)
        for param, alias in {**current, **kwargs}.items():
            request.score.add_request(param=param, alias=alias)
        self._metadata_request = request
        return self

    def _get_metadata_request(self):
        if hasattr(self, "_metadata_request"):
            return get_routing_for_object(self._metadata_request)
        request = MetadataRequest(owner=self)
        request.score.add_request(param="tasks", alias=True)
        request.score.add_request(param="sample_weight", alias=None)
        return request


# ------------------------------------------------------------- named scorers
_NAMED = {
    "neg_mean_squared_error": (task_mean_squared_error, -1, "predict"),
    "neg_normalized_mean_squared_error": (task_normalized_mean_squared_error, -1, "predict"),
    "explained_variance": (task_explained_variance_score, 1, "predict"),
    "r2": (task_r2_score, 1, "predict"),
    "accuracy": (task_accuracy_score, 1, "predict"),
    "roc_auc": (task_roc_auc_score, 1, "decision_function"),
}


def get_scorer_names():
    """Names accepted by :func:`get_scorer`, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_NAMED)


def get_scorer(scoring, *, average="tasks"):
    """A task-aware scorer by name.

    Parameters
    ----------
    scoring : str or TaskScorer
        One of :func:`get_scorer_names`:

        * ``"neg_mean_squared_error"``: ``-m`` with ``m`` from
          :func:`task_mean_squared_error`;
        * ``"neg_normalized_mean_squared_error"``: ``-m`` with ``m`` from
          :func:`task_normalized_mean_squared_error`;
        * ``"explained_variance"``: :func:`task_explained_variance_score`;
        * ``"r2"``: :func:`task_r2_score`;
        * ``"accuracy"``: :func:`task_accuracy_score` of ``predict``;
        * ``"roc_auc"``: :func:`task_roc_auc_score` of ``decision_function``.

        A :class:`TaskScorer` is returned unchanged.
    average : {"tasks", "samples"}, default="tasks"
        How the per-task values are combined (see
        :func:`task_mean_squared_error`).

    Returns
    -------
    TaskScorer
        A new scorer (its metadata requests are its own).
    """
    if isinstance(scoring, TaskScorer):
        return scoring
    if isinstance(scoring, str) and scoring in _NAMED:
        metric, sign, response_method = _NAMED[scoring]
        return TaskScorer(metric, sign=sign, response_method=response_method,
                          average=average, name=scoring)
    raise ValueError(
        f"{scoring!r} is not a task-aware scorer; valid names: {', '.join(get_scorer_names())}. "
        "scikit-learn's own scorer strings (scoring='r2', ...) call predict(X) without tasks, "
        "so they cannot score a multi-task model fitted in long format."
    )


def default_scorer(estimator):
    """The default task-aware scorer of an estimator.

    For a regressor, ``"neg_mean_squared_error"`` averaged over tasks: the
    score is ``-(1/T) sum_t MSE_t``.  For a classifier (as told by
    :func:`sklearn.base.is_classifier`), ``"accuracy"`` averaged over tasks:
    ``(1/T) sum_t accuracy_t``.

    Parameters
    ----------
    estimator : estimator instance

    Returns
    -------
    TaskScorer
    """
    name = "accuracy" if is_classifier(estimator) else "neg_mean_squared_error"
    return get_scorer(name, average="tasks")

