"""The fit seam: one visible path from data to solution.

Every caller -- an estimator's ``fit``, :mod:`mtlreg.model_selection`,
:func:`alpha_max`, the benchmark suites -- runs the same three steps::

    problem = prepare(X, y, tasks, loss="squared")        # validate once
    objective = estimator.get_objective(problem)           # what the model is
    solution = solve(problem, objective, start=previous)   # certified result

* :func:`prepare` validates the data once into a :class:`Problem`: the
  task-sorted data in its batched layout (:mod:`mtlreg._data`), centred when
  the intercepts are eliminated, with the data fit the solvers see.  It does
  not depend on any penalty strength, so a path or a cross-validation fold
  prepares once and solves many times.
* An :class:`Objective` says what is minimized on top of the data fit: one
  or more :class:`Part` (``W = P_1 + ... + P_k``, each with its proximable
  penalty), an optional smooth structural term, and the solver.
* :func:`solve` returns a :class:`Solution`: the parts, ``coef`` and
  intercepts in the user's (uncentred) parametrization, the objective, the
  certified duality gap, iterations and history.  ``start=`` (a previous
  :class:`Solution` or ``(parts, intercept)``) is the warm start; it changes
  the iterations, never the solution certified.
* :func:`alpha_max` is the threshold of a norm on a prepared problem.
"""

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ._backend import (SMALL_WORK, as_float, compute_device, device, get_namespace,
                       input_namespace, is_numpy_namespace, move_to, one_blas_thread, to_numpy)
from ._data import (TaskData, build_gram_task_data, build_shared_gram_data, build_task_data,
                    encode_tasks, gram_task_data_applies, padded_samples)
from ._parts import PartsPenalty, SumOfParts, split_parts
from .losses import (BaseDataFit, LogisticLoss, SmoothlyPenalizedDataFit, SquaredLoss,
                     make_datafit, optimal_intercepts_at_zero)
from .penalties import NORMS, NormPenalty, Penalty, SmoothTerm
from .solvers import (SolverResult, admm, admm_then_fista, alternating_minimization,
                      coordinate_descent, fista, fista_then_admm, use_coordinate_descent,
                      use_working_set, working_set_fista)
from .solvers.admm import splits_penalty
from .solvers.fista import effective_tol

__all__ = ["Problem", "Part", "Objective", "Solution", "prepare", "solve", "solver_inputs",
           "alpha_max", "objective_at_zero", "part_ceiling", "check_settings",
           "is_seam_estimator", "SOLVERS"]

LOSSES = {"squared": SquaredLoss, "logistic": LogisticLoss}


# -------------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class Problem:
    """Validated data of a fit, independent of the penalty strengths.

    Attributes
    ----------
    xp : array namespace of the computation
    X : array of shape (n_samples, n_features), validated, on the compute device
    Y : array of shape (n_samples,) or (n_samples, n_tasks)
        Targets in ``X``'s dtype (class signs -1/+1 for the logistic loss).
    data : TaskData
        The task-sorted, batched layout the data fit works on (centred when
        the squared loss' intercepts are eliminated); on the Gram path only
        the per-task Gram matrices and moments may be kept (no per-sample
        arrays when they were computed task by task from ``X``).
    datafit : BaseDataFit
        The smooth data fit the solvers see (on Gram matrices when cheaper).
    loss : SquaredLoss or LogisticLoss
    labels : ndarray of shape (n_tasks,)
        Sorted task labels (``0 .. n_tasks-1`` for a shared design).
    task_index : ndarray of shape (n_samples,) or None
        Task position of each sample (None for a shared design).
    shared : bool
        Shared design (``y`` 2-D, one column per task).
    y_ndim : int
    fit_intercept, loss_scaling : the settings the data were prepared with.
    use_gram : bool
        The data fit works on per-task Gram matrices.
    classes : ndarray of shape (2,) or None
        The two class labels (logistic loss).
    one_class_sign : ndarray of shape (n_tasks,) or None
        ``+-1`` for tasks whose labels are all one class (left out of the
        joint solve, see :class:`~mtlreg.base.MultiTaskClassifierBase`), else 0.
    feature_names : ndarray or None
        String column names of a pandas ``X``.
    """

    xp: Any
    X: Any
    Y: Any
    data: TaskData
    datafit: BaseDataFit
    loss: Any
    labels: np.ndarray
    task_index: Optional[np.ndarray]
    shared: bool
    y_ndim: int
    fit_intercept: bool
    loss_scaling: str
    use_gram: bool
    classes: Optional[np.ndarray] = None
    one_class_sign: Optional[np.ndarray] = None
    feature_names: Optional[np.ndarray] = None

    @property
    def n_tasks(self):
        return self.data.n_tasks

    @property
    def n_features(self):
        return self.data.n_features

    @property
    def squared(self):
        return self.loss.name == "squared"


def prepare(X, y, tasks=None, *, loss="squared", loss_scaling="mean", fit_intercept=True,
            device=None, gram="auto", estimator_name=None):
    """Validate ``(X, y, tasks)`` once into a :class:`Problem`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Long format: 1-D ``y`` with ``tasks``.  Shared design: 2-D ``Y`` with
        one column per task and ``tasks=None``.  For ``loss="logistic"``, two
        class labels.
    tasks : array-like of shape (n_samples,), default=None
    loss : {"squared", "logistic"}
    loss_scaling : {"mean", "sum"}
    fit_intercept : bool
    device : {None, "cpu", "cuda", "cuda:N"}
        As the estimators' ``device`` parameter.
    gram : {"auto", True, False}, default="auto"
        Squared loss: work on per-task Gram matrices ``X_t^T X_t``.  "auto"
        (what the estimators use): when they are no larger than the
        (padded) data, in float64 only (the Gram form of the loss cancels
        on near-exact fits, which float32 cannot afford).
    estimator_name : str, default=None
        Named in error messages.

    Returns
    -------
    Problem
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}.")
    if loss_scaling not in ("mean", "sum"):
        raise ValueError(f"loss_scaling must be 'mean' or 'sum', got {loss_scaling!r}.")
    name = estimator_name or f"the {loss} loss"
    feature_names = _feature_names(X)
    xp, X, y = _validate_X_y(X, y, loss, name)
    xp, X = _to_compute_device(xp, X, device)
    n_samples = X.shape[0]
    if y.ndim == 2 and y.shape[1] == 1 and tasks is not None:
        y = xp.reshape(y, (-1,))
    classes = None
    if loss == "squared":
        Y = xp.astype(xp.asarray(y, device=_device_of(X)), X.dtype)
    else:
        classes, Y = _class_signs(xp, X, y, name)
    task_index = None
    if tasks is not None:
        if y.ndim != 1:
            raise ValueError(
                f"tasks was given with a 2-D y of shape {tuple(y.shape)}: pass either a "
                "1-D y with tasks (long format) or a 2-D Y with one column per task "
                "(shared design) and tasks=None."
            )
        labels, task_index = encode_tasks(tasks, n_samples)
    else:
        Y = Y if Y.ndim == 2 else Y[:, None]
        labels = np.arange(Y.shape[1])
    if gram not in ("auto", True, False):
        raise ValueError(f"gram must be 'auto', True or False, got {gram!r}.")
    loss_obj = LOSSES[loss]()
    squared = loss == "squared"
    n_tasks, n_features = labels.shape[0], X.shape[1]
    # The Gram form of the squared loss, w'Gw/2 - w'q + y'y/2, cancels when
    # the fit is good; float32 keeps the data path for accuracy.
    # Gram when it is cheaper: n_tasks d^2 against the (padded) samples' n d.
    counts = None if task_index is None else np.bincount(task_index, minlength=n_tasks)
    padded = n_samples * n_tasks if task_index is None else padded_samples(counts, n_features)
    use_gram = squared and (gram is True or gram == "auto" and X.dtype == xp.float64
                            and n_tasks * n_features <= padded)
    one_class_sign = None
    if use_gram and task_index is not None and gram_task_data_applies(xp, counts, n_features):
        # large tasks: the Gram form task by task from X, no chunked copy of it
        data = build_gram_task_data(xp, X, Y, task_index, n_tasks, loss_scaling=loss_scaling,
                                    center=fit_intercept)
    elif use_gram and task_index is None:
        # a shared design: one Gram matrix, centred inside the product (no copy of X)
        data = build_shared_gram_data(xp, X, Y, loss_scaling=loss_scaling, center=fit_intercept)
    else:
        data = build_task_data(xp, X, Y, task_index, n_tasks if task_index is not None
                               else None, loss_scaling=loss_scaling)
        if squared and fit_intercept:
            data.center()
        if not squared and fit_intercept:
            data.center(center_y=False)
            one_class_sign = drop_one_class_tasks(xp, data)
        if use_gram:
            data.compute_gram()
    datafit = make_datafit(loss_obj, data, fit_intercept and not squared, use_gram)
    return Problem(xp=xp, X=X, Y=Y, data=data, datafit=datafit, loss=loss_obj,
                   labels=labels, task_index=task_index, shared=tasks is None,
                   y_ndim=y.ndim, fit_intercept=bool(fit_intercept),
                   loss_scaling=loss_scaling, use_gram=use_gram, classes=classes,
                   one_class_sign=one_class_sign, feature_names=feature_names)


def _device_of(X):  # prepare's parameter ``device`` hides the function
    return device(X)


def _feature_names(X):
    from sklearn.utils.validation import _get_feature_names

    return _get_feature_names(X)


def float_dtypes(X):
    """float64 then float32, in the namespace scikit-learn will validate X with."""
    xp = input_namespace(X)
    if is_numpy_namespace(xp):
        return (np.float64, np.float32)
    return (xp.float64, xp.float32)


def as_numpy_labels(y):
    """Labels as a NumPy array (pandas, array API and sequences alike)."""
    if hasattr(y, "to_numpy"):
        return np.asarray(y.to_numpy())
    if isinstance(y, np.ndarray):
        return y
    try:
        return to_numpy(y)
    except (TypeError, AttributeError, ValueError):
        return np.asarray(y)


def _validate_X_y(X, y, loss, name):
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_X_y

    xp = input_namespace(X)
    if loss == "squared":
        y_arr = y if not is_numpy_namespace(xp) else as_numpy_labels(y)
        if is_numpy_namespace(xp) and y_arr.dtype.kind in "OUS":
            try:
                y_arr.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} needs numeric y; got values of dtype {y_arr.dtype} (e.g. "
                    f"{y_arr.reshape(-1)[0]!r}). For class labels use the matching "
                    f"Classifier."
                ) from None
        X, y = check_X_y(X, y, multi_output=True, y_numeric=True, dtype=float_dtypes(X),
                         estimator=name)
    else:
        X, y = check_X_y(X, y, multi_output=True, dtype=float_dtypes(X), estimator=name)
        check_classification_targets(as_numpy_labels(y))
    return get_namespace(X), X, y


def _class_signs(xp, X, y, name):
    y_host = as_numpy_labels(y)
    classes = np.unique(y_host)
    if classes.shape[0] > 2:
        raise ValueError(
            f"Only binary classification is supported: {name} fits one logistic model "
            f"per task, and y has {classes.shape[0]} classes: {classes[:10].tolist()}. "
            f"Fit one model per class (one-vs-rest) for more."
        )
    if classes.shape[0] < 2:
        raise ValueError(f"{name} needs samples of two classes in y; got only one class: "
                         f"{classes.tolist()}.")
    signs = np.where(y_host == classes[1], 1.0, -1.0)
    return classes, xp.asarray(signs, dtype=X.dtype, device=device(X))


def _to_compute_device(xp, X, name):
    """``device="cuda"``: the validated host data move to the GPU, once."""
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


def drop_one_class_tasks(xp, data):
    """Give zero loss weight to tasks whose labels are all one class.

    With fitted intercepts such a task's loss vanishes only in the limit
    ``b_t -> +-inf``, where it is zero whatever ``w_t`` is: the task keeps its
    ``w_t`` in the penalty and loses its loss.  Returns the sign of each
    dropped task's class (0 if kept), or None when no task is dropped.
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


# ------------------------------------------------------------------------------ objective
@dataclass(frozen=True)
class Part:
    """One part ``P_i`` of ``W = P_1 + ... + P_k`` and its proximable penalty.

    Attributes
    ----------
    penalty : Penalty
    param : str or None
        The estimator parameter that scales the penalty (for thresholds).
    norm : str or None
        Key of :data:`mtlreg.penalties.NORMS` whose ``alpha_max`` is the
        threshold of ``param`` (inferred from a norm penalty; give it when
        the penalty is :class:`~mtlreg.penalties.Zero` at strength 0).
    name : str or None
        Fitted attribute holding this part (decomposed models).
    ceiling : tuple (c, kappa) or None
        Two-part models: the dual norm ``A*`` of this part against the other
        part's ``B*`` and the Frobenius norm, ``A* <= c B*`` and
        ``A* <= kappa ||.||_F``; the part is zero above ``c s + 2 kappa
        sqrt(ridge F(0))`` (``s`` the other part's strength, see
        :func:`part_ceiling`).
    """

    penalty: Penalty
    param: Optional[str] = None
    norm: Optional[str] = None
    name: Optional[str] = None
    ceiling: Optional[tuple] = None

    @property
    def threshold(self):
        """What :func:`alpha_max` needs for ``param``: the penalty itself when it
        is a norm (with its own settings), else the ``NORMS`` key, else None."""
        if isinstance(self.penalty, NormPenalty):
            return self.penalty
        return self.norm

    @property
    def threshold_norm(self):
        """The ``NORMS`` key of the norm whose ``alpha_max`` is ``param``'s threshold."""
        if self.norm is not None:
            return self.norm
        for key, cls in NORMS.items():
            if type(self.penalty) is cls:
                return key
        return None


SOLVERS = ("auto", "fista", "admm", "alternating")


@dataclass(frozen=True)
class Objective:
    """What is minimized on top of the data fit ``F(W, b)``.

    ``F(sum_i P_i, b) + sum_i h_i(P_i) + g(sum_i P_i)`` with the parts' prox
    penalties ``h_i`` and an optional smooth term ``g``.

    Attributes
    ----------
    parts : tuple of Part
    smooth : SmoothTerm or None
        Added to the data fit.  Its conjugate certifies the gap only when
        every part's penalty is zero (``is_zero``): the whole dual point then
        goes to ``g``.
    solver : {"auto", "fista", "admm", "alternating"}
        ``"fista"``: accelerated proximal gradient (on working sets of
        features when the penalty is separable over features and there are
        many).  ``"admm"``: ADMM (:func:`mtlreg.solvers.admm`), for a data fit
        with a closed-form proximal solve (the squared loss's Gram path) and
        no smooth term, or a smooth term with a closed-form prox (the graph
        quadratic) and a zero prox penalty or a norm separable over the
        features (the graph's L1 term: a three-way split).  ``"auto"``
        (default): FISTA's working sets where they apply, else ADMM where it
        applies (its exact per-task solve makes it insensitive to the
        conditioning of raw features; handed over to FISTA after 2,000
        iterations, :func:`mtlreg.solvers.admm_then_fista`), except the
        three-way split, which runs only on badly scaled features and after
        500 FISTA iterations (:func:`mtlreg.solvers.fista_then_admm`), else
        FISTA.
        ``"alternating"``: alternating minimization over an
        auxiliary matrix (a single part whose penalty ``has_auxiliary``).
    solver_options : mapping
        Extra keyword arguments of the solver.  With ``solver="fista"`` they
        go to :func:`mtlreg.solvers.fista` itself: working sets are used only
        when no option is given.
    readouts : callable or None
        ``readouts(solution) -> {attribute: value}``: the family's fitted
        attributes beyond the shared ones.
    """

    parts: tuple
    smooth: Optional[SmoothTerm] = None
    solver: str = "auto"
    solver_options: Mapping = field(default_factory=dict)
    readouts: Optional[Callable] = None

    def __post_init__(self):
        if not self.parts or not all(isinstance(p, Part) for p in self.parts):
            raise TypeError("Objective.parts must be a non-empty tuple of Part.")
        for p in self.parts:
            if not isinstance(p.penalty, Penalty):
                raise TypeError(f"Part.penalty must be a Penalty, got "
                                f"{type(p.penalty).__name__}.")
        if self.smooth is not None and not isinstance(self.smooth, SmoothTerm):
            raise TypeError(f"Objective.smooth must be a SmoothTerm, got "
                            f"{type(self.smooth).__name__}.")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}.")

    @property
    def n_parts(self):
        return len(self.parts)

    def part(self, param):
        """The part scaled by the parameter ``param`` (None if none is)."""
        for p in self.parts:
            if p.param == param:
                return p
        return None

    @property
    def zero_task_is_free(self):
        """Whether setting a task's ``w_t`` to zero never raises the structural terms."""
        return all(p.penalty.zero_task_is_free for p in self.parts) and (
            self.smooth is None or self.smooth.zero_task_is_free)

    def thresholds(self):
        """``{parameter: NORMS key}`` naming the norm of each parameter with a
        closed-form threshold (above it, that parameter's part is zero).  For
        display: :func:`alpha_max` with ``estimator=`` and ``param=`` uses the
        part's own penalty, settings included (:attr:`Part.threshold`)."""
        return {p.param: p.threshold_norm for p in self.parts
                if p.param is not None and p.threshold_norm is not None}

    def penalty(self):
        """The prox penalty of the stacked parts."""
        if self.n_parts == 1:
            return self.parts[0].penalty
        xp = self.parts[0].penalty.xp
        return PartsPenalty(xp, [p.penalty for p in self.parts])

    def datafit(self, problem):
        """The smooth part ``F(W, b) + g(W)`` at ``W = sum_i P_i``, on the stacked parts."""
        datafit = problem.datafit
        if self.smooth is not None:
            prox_is_zero = all(p.penalty.is_zero for p in self.parts)
            datafit = SmoothlyPenalizedDataFit(datafit, self.smooth, prox_is_zero=prox_is_zero)
        if self.n_parts > 1:
            datafit = SumOfParts(datafit, self.n_parts)
        return datafit

    def structure_value(self, stacked_coef):
        """``sum_i h_i(P_i) + g(W)`` at the solver's stacked variable."""
        value = float(self.penalty().value(stacked_coef))
        if self.smooth is not None:
            xp = self.parts[0].penalty.xp
            coef = xp.sum(split_parts(xp, stacked_coef, self.n_parts), axis=0)
            value += float(self.smooth.value(coef))
        return value


# ------------------------------------------------------------------------------- solution
@dataclass
class Solution:
    """The result of :func:`solve`, in the user's parametrization.

    Attributes
    ----------
    parts : array of shape (n_parts, n_tasks, n_features)
    coef : array of shape (n_tasks, n_features)
        ``sum_i parts[i]`` (``W.T``).
    intercept : array of shape (n_tasks,)
        Intercepts for the uncentred data (zeros without ``fit_intercept``).
    objective : float
        Objective at the solution: on the Gram path its Gram form when the
        bound on that form's rounding (added to ``dual_gap``) still certifies
        ``tol``, else evaluated on the data.
    dual_gap : float or None
        Certified duality gap (None without a certificate).
    converged : bool
    n_iter : int
    criterion : float
    criterion_name : str
        What the stopping rule measured ("duality gap", "gradient mapping", ...).
    history : list of tuple
        ``(iteration, objective, criterion)`` at each convergence check.
    raw : SolverResult
        The solver's own result (stacked parts; centred intercepts in the solver's
        variable, ``problem.datafit.from_solver_intercept`` maps them back).
    """

    parts: Any
    coef: Any
    intercept: Any
    objective: float
    dual_gap: Optional[float]
    converged: bool
    n_iter: int
    criterion: float
    criterion_name: str
    history: list
    raw: SolverResult

    def to_numpy(self):
        """The same solution with its arrays on the host (NumPy)."""
        raw = self.raw
        raw = replace(raw, coef=to_numpy(raw.coef),
                      intercept=None if raw.intercept is None else to_numpy(raw.intercept),
                      auxiliary=None if raw.auxiliary is None else
                      tuple(to_numpy(a) for a in raw.auxiliary))
        return replace(self, parts=to_numpy(self.parts), coef=to_numpy(self.coef),
                       intercept=to_numpy(self.intercept), raw=raw)


def solve(problem, objective, *, start=None, tol=1e-6, max_iter=5000):
    """Minimize ``objective`` on ``problem``.

    Parameters
    ----------
    problem : Problem
    objective : Objective
    start : Solution or tuple (parts, intercept), default=None
        Warm start: ``parts`` of shape (n_parts, n_tasks, n_features) (or
        (n_tasks, n_features) for one part) and intercepts for the uncentred
        data.  None: ``W = 0`` and the optimal intercepts there.
    tol : float
        Relative duality gap (see :func:`mtlreg.solvers.fista`).
    max_iter : int

    Returns
    -------
    Solution
    """
    xp, data = problem.xp, problem.data
    datafit, penalty, coef0, intercept0 = solver_inputs(problem, objective, start)
    if objective.solver == "alternating" and objective.n_parts != 1:
        raise ValueError("the alternating solver takes a single part.")
    solver = alternating_minimization if objective.solver == "alternating" else \
        _choose_solver(objective, datafit, penalty)
    # an iteration that touches few numbers runs on one BLAS thread (see
    # mtlreg._backend.SMALL_WORK); decompositions are bounded on their own
    with one_blas_thread(xp, _iteration_size(problem, objective) <= SMALL_WORK):
        result = solver(datafit, penalty, coef0, intercept0, tol=tol, max_iter=max_iter,
                        **objective.solver_options)

    k = objective.n_parts
    parts = split_parts(xp, result.coef, k)
    coef = xp.sum(parts, axis=0)
    zeros = xp.zeros((data.n_tasks,), dtype=data.dtype, device=data.device)
    if problem.squared:
        intercept = data.y_offset - xp.sum(data.X_offset * coef, axis=1) \
            if problem.fit_intercept else zeros
    else:
        intercept = problem.datafit.from_solver_intercept(result.intercept) \
            - xp.sum(data.X_offset * coef, axis=1) if problem.fit_intercept else zeros
        if problem.one_class_sign is not None:
            # a task without loss (one class, b_t -> +-inf): its w_t is what the
            # penalty alone makes it; when a zero w_t is free (the penalty does not
            # couple the tasks) the solver's rounding-level values are set to 0,
            # which cannot raise the objective, so the certificate still holds
            sign = problem.one_class_sign
            if objective.zero_task_is_free:
                coef = _zero_tasks(xp, coef, sign)
                parts = xp.stack([_zero_tasks(xp, parts[i, ...], sign) for i in range(k)])
            intercept = _one_class_intercepts(xp, intercept, sign)
    value = float(result.objective)
    gap = None if result.dual_gap is None else float(result.dual_gap)
    if problem.use_gram:
        # The Gram form of F cancels on near-exact fits and on features with large
        # means.  Its value is reported, with its rounding bound added to the
        # certified gap, when the sum still certifies tol; else the objective is
        # evaluated on the data (one pass).
        bound = _gram_rounding(problem, coef)
        if result.converged and gap is not None and \
                gap + bound <= effective_tol(tol, data.dtype, xp) * abs(value):
            gap += bound
        else:
            value = _squared_objective(problem, coef, intercept,
                                       objective.structure_value(result.coef))
    return Solution(parts=parts, coef=coef, intercept=intercept, objective=value,
                    dual_gap=gap,
                    converged=bool(result.converged), n_iter=int(result.n_iter),
                    criterion=result.criterion, criterion_name=result.criterion_name,
                    history=result.history, raw=result)


def _iteration_size(problem, objective):
    """How many numbers an iteration reads: the design (or the Gram matrices on
    the Gram path) and the coefficients of every part."""
    data = problem.data
    design = data.gram if problem.use_gram else data.X
    return math.prod(design.shape) + objective.n_parts * data.n_tasks * data.n_features


def _choose_solver(objective, datafit, penalty):
    """The solver of ``objective.solver`` (see :class:`Objective`)."""
    if objective.solver == "admm":
        return admm
    if not objective.solver_options and use_working_set(datafit, penalty):
        return working_set_fista
    if objective.solver == "auto" and not objective.solver_options and \
            use_coordinate_descent(datafit, penalty):
        return coordinate_descent
    if objective.solver == "auto" and not objective.solver_options:
        if datafit.has_proximal_solve and penalty.has_conjugate or \
                _splits_smooth_term(datafit, penalty) and penalty.is_zero:
            return admm_then_fista
        if _splits_smooth_term(datafit, penalty) and _badly_scaled(datafit.inner):
            return fista_then_admm  # the three-way split, after a short FISTA run
    return fista


#: the three-way split (the graph quadratic with its L1 term) takes over from a short FISTA
#: run when the features' curvature scales span more than this factor; FISTA alone otherwise
SPLIT_SCALE_SPREAD = 10.0


def _badly_scaled(datafit):
    """Whether the features' curvature scales ``s_j = sqrt(mean_t c_t (G_t)_jj)`` span
    more than :data:`SPLIT_SCALE_SPREAD` (over the features that carry data).

    The three-way ADMM split is insensitive to the features' scales, FISTA is not,
    but FISTA is the faster one on well-scaled or small sparse problems: on
    standardized School (``GraphRegressor(alpha=1)``) with ``beta = 0.01`` FISTA
    certified in 2,670 iterations, the split (then FISTA) in 3,410; on 36 draws of
    ``tests/test_relation.py``'s chain problem, with unit and log-spaced scales,
    FISTA took fewer iterations in 30.  On raw School (scales 0.07 to 15) with
    ``beta = 0.01`` FISTA stopped at 5,000 without a certificate and the split
    certified in 570.  So badly scaled problems get FISTA first and the split
    after :data:`mtlreg.solvers.admm.FISTA_BUDGET` iterations
    (:func:`mtlreg.solvers.admm.fista_then_admm`)."""
    xp = datafit.xp
    curvature, bearing = datafit.feature_curvature()
    top = as_float(xp.max(curvature))
    low = as_float(xp.min(xp.where(bearing, curvature, xp.full_like(curvature, top))))
    return top > SPLIT_SCALE_SPREAD**2 * low


def _splits_smooth_term(datafit, penalty):
    """ADMM can split the data fit from the smooth term: a closed-form proximal
    solve, a smooth term with a closed-form prox, a zero prox penalty or a norm
    separable over the features (:func:`mtlreg.solvers.admm.splits_penalty`),
    and a certificate (the graph quadratic on the squared loss's Gram path,
    with or without its L1 term)."""
    smooth, inner = getattr(datafit, "smooth", None), getattr(datafit, "inner", None)
    return (smooth is not None and smooth.has_prox and inner.has_proximal_solve
            and (penalty.is_zero or splits_penalty(penalty)) and datafit.has_dual)


def solver_inputs(problem, objective, start=None):
    """``(datafit, penalty, coef0, intercept0)``: what :func:`solve` hands its
    solver -- the data fit on the stacked parts plus the smooth term, the
    parts' prox penalty, and the starting point (``W = 0`` and the optimal
    intercepts there when ``start`` is None; intercepts for the centred data,
    None when they are not solver variables).  For callers that drive a
    solver themselves (the benchmark suites time FISTA's iterations on it)."""
    coef0, intercept0 = _initial_point(problem, objective.n_parts, start)
    intercept0 = problem.datafit.to_solver_intercept(intercept0)
    return objective.datafit(problem), objective.penalty(), coef0, intercept0


def _initial_point(problem, n_parts, start):
    """The solver's ``(stacked coef, centred intercept)`` from ``start``."""
    xp, data = problem.xp, problem.data
    T, d, k = data.n_tasks, data.n_features, n_parts
    coef0 = xp.zeros((k * T, d), dtype=data.dtype, device=data.device)
    intercept0 = None if problem.squared or not problem.fit_intercept else \
        optimal_intercepts_at_zero(problem.loss, data)
    if start is None:
        return coef0, intercept0
    parts, b = (start.parts, start.intercept) if isinstance(start, Solution) else start
    shape = tuple(parts.shape)
    if shape not in ((k, T, d),) + (((T, d),) if k == 1 else ()):
        raise ValueError(f"start has parts of shape {shape}; this problem needs "
                         f"{(k, T, d)} ({k} part(s), {T} tasks, {d} features).")
    coef0 = xp.reshape(xp.astype(xp.asarray(parts, device=data.device), data.dtype), (k * T, d))
    if intercept0 is not None and b is not None:
        b = xp.astype(xp.asarray(b, device=data.device), data.dtype)
        # the solver works with centred X: b' = b + mean_t(x) . w_t
        w = xp.sum(xp.reshape(coef0, (k, T, d)), axis=0)
        intercept0 = b + xp.sum(data.X_offset * w, axis=1)
    return coef0, intercept0


def _zero_tasks(xp, coef, sign):
    """``w_t = 0`` for the tasks of one class (``sign != 0``)."""
    drop = xp.asarray(sign, dtype=coef.dtype, device=device(coef)) != 0
    return xp.where(drop[:, None], xp.zeros_like(coef), coef)


def _one_class_intercepts(xp, intercept, sign):
    """``b_t = +-log(1 / eps)`` for the tasks of one class: the limit ``b_t -> +-inf``."""
    eps = float(xp.finfo(intercept.dtype).eps)
    s = xp.asarray(sign, dtype=intercept.dtype, device=device(intercept))
    return xp.where(s != 0, s * math.log(1.0 / eps), intercept)


def _gram_rounding(problem, coef):
    """Bound on the rounding error of the Gram form of the squared loss at ``W``,
    ``sum_t c_t (w^T G w / 2 - w^T q + ||y||^2 / 2)``, against the loss of the raw
    data at ``W`` and the intercepts that centring eliminates.  ``G = X^T X`` and
    ``q = X^T y`` come from centred values, each rounded to ``eps`` times its
    raw magnitude plus the mean's (the means' own rounding shifts a whole
    column, which the centred column's zero sum cancels); each sum of the form
    has ``n_t + 2 d + 4`` products, each erring by at most that many eps times
    the sum of the products' magnitudes; and by Cauchy-Schwarz those are at most
    ``(||y_t|| + sum_j |w_tj| ||x_tj||)^2`` over the raw columns, whose squared
    norms are ``G_t,jj + n_t mean_j^2`` (``||y_t||^2 + n_t mean_y^2``).  A factor 8
    covers the centring, the halves and the rounding of the bound itself."""
    xp, data = problem.xp, problem.data
    n_t = xp.asarray(data.n_samples_task, dtype=data.dtype, device=data.device)
    columns = xp.clip(xp.linalg.diagonal(data.gram), 0.0, None)
    targets = data.yty
    if data.X_offset is not None:
        columns = columns + n_t[:, None] * data.X_offset * data.X_offset
    if data.y_offset is not None:
        targets = targets + n_t * data.y_offset * data.y_offset
    s = xp.sum(xp.abs(coef) * xp.sqrt(columns), axis=-1)
    eps = float(xp.finfo(data.dtype).eps)
    size = 8.0 * (n_t + 2 * data.n_features + 4) * eps * (xp.sqrt(targets) + s) ** 2
    return as_float(xp.sum(data.task_weight * size))


def _squared_objective(problem, coef, intercept, penalty_value):
    """``sum_t c_t ||y_t - X_t w_t - b_t||^2 / 2 + penalty(W)`` from the raw data."""
    xp, X, Y, data = problem.xp, problem.X, problem.Y, problem.data
    if problem.task_index is None:  # shared design, Y of shape (n_samples, n_tasks)
        R = Y - X @ xp.permute_dims(coef, (1, 0)) - intercept[None, :]
        F = 0.5 * xp.sum(data.task_weight[None, :] * R * R)
    else:
        idx = xp.asarray(problem.task_index, device=device(X))
        r = Y - xp.sum(X * xp.take(coef, idx, axis=0), axis=1) - xp.take(intercept, idx, axis=0)
        F = 0.5 * xp.sum(xp.take(data.task_weight, idx, axis=0) * r * r)
    return float(F) + penalty_value


# ---------------------------------------------------------------------------- thresholds
def _at_zero(problem):
    """``(F(0, b*), grad_W F(0, b*))`` with the optimal intercepts ``b*`` at ``W = 0``."""
    xp, data, datafit = problem.xp, problem.data, problem.datafit
    zero = xp.zeros((data.n_tasks, data.n_features), dtype=data.dtype, device=data.device)
    b0 = datafit.to_solver_intercept(optimal_intercepts_at_zero(problem.loss, data)) \
        if not problem.squared and problem.fit_intercept else None
    value, grad, _ = datafit.value_and_grad(zero, b0, datafit.state(zero, b0))
    return float(value), grad


def objective_at_zero(problem):
    """``F(0, b*)``: the data fit at ``W = 0`` with the optimal intercepts there."""
    return _at_zero(problem)[0]


def alpha_max(X, y=None, tasks=None, *, penalty="l21", loss=None, loss_scaling=None,
              fit_intercept=None, estimator=None, param="alpha"):
    """Smallest ``alpha`` for which the solution is ``W = 0``.

    ``W = 0`` is optimal iff ``-grad_W F(0, b*)`` lies in ``alpha`` times the
    unit ball of the dual norm, with ``b*`` the optimal intercepts at ``W = 0``;
    so ``alpha_max = dual_norm(grad_W F(0, b*))``: ``max_{j,t} |G_jt|`` for L1,
    ``max_j ||G_j,:||_2`` for L2,1, ``max_j sum_t |G_jt|`` for L1,inf,
    ``max_t ||G_:,t||_2`` for the per-task L2 norm, the spectral norm
    ``sigma_max(G)`` for the trace norm.  Independent of ``ridge``.

    For a decomposed model ``W = P + Q`` (:mod:`mtlreg.decomposition`),
    ``W = 0`` is optimal iff ``alpha`` and ``beta`` both reach their part's
    value: e.g. ``DirtyRegressor`` needs ``alpha >= alpha_max(penalty="l1inf")``
    and ``beta >= alpha_max(penalty="l1")``.

    Given an ``estimator``, the value is that of its parameter ``param``:
    its loss, ``loss_scaling`` and ``fit_intercept`` and the norm ``param``
    multiplies (from :meth:`get_objective`) are read from it (``penalty``,
    ``loss``, ``loss_scaling`` and ``fit_intercept`` are then ignored).
    Parameters of smooth terms (MTFL's and MTRL's squared trace norm, cASO,
    clustered MTL, the graph term) have no such value: their term's
    gradient vanishes at ``W = 0``, so no finite value makes ``W = 0``
    optimal, and asking for one is an error.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or Problem
        The data as in ``fit``, or a problem prepared by :func:`prepare`
        (then ``y``, ``tasks``, ``loss``, ``loss_scaling`` and
        ``fit_intercept`` are not given).
    y, tasks : as in ``fit`` (long format or shared design).
    penalty : {"l1", "l21", "l1inf", "task_l2", "trace", "sparse_l21"} or NormPenalty
        A key of :data:`mtlreg.penalties.NORMS` (their default settings), or a
        norm penalty (its own settings).
    loss : {"squared", "logistic"}, default="squared"
        For ``"logistic"``, ``y`` holds two class labels.
    loss_scaling : {"mean", "sum"}, default="mean"
    fit_intercept : bool, default=True
        With a prepared ``Problem``, these three are the problem's; giving
        other values is an error.
    estimator : mtlreg estimator, default=None
        Read the penalty, loss and settings from this (unfitted) estimator.
    param : str, default="alpha"
        With ``estimator``: the parameter whose threshold is computed, e.g.
        ``"beta"`` for the second part of a decomposed model.

    Returns
    -------
    float
    """
    if estimator is not None and not is_seam_estimator(estimator):
        raise TypeError(f"estimator must be an mtlreg estimator, got "
                        f"{type(estimator).__name__}.")
    if isinstance(X, Problem):
        if y is not None or tasks is not None:
            raise TypeError("alpha_max of a prepared Problem takes no y or tasks.")
        problem = X
        check_settings(problem, loss, fit_intercept, loss_scaling, "alpha_max")
        if estimator is not None:
            check_settings(problem, estimator._loss, estimator.fit_intercept,
                           estimator.loss_scaling, type(estimator).__name__)
    elif estimator is not None:
        problem = estimator.prepare(X, y, tasks)
    else:
        problem = prepare(X, y, tasks, loss=loss or "squared",
                          loss_scaling=loss_scaling or "mean",
                          fit_intercept=True if fit_intercept is None else fit_intercept)
    if estimator is not None:
        penalty = param_threshold(estimator, estimator.get_objective(problem), param)
    return problem_alpha_max(problem, penalty)


def is_seam_estimator(estimator):
    """Whether ``estimator`` offers the seam: ``prepare``, ``get_objective``, ``fit_problem``."""
    return all(callable(getattr(estimator, name, None))
               for name in ("prepare", "get_objective", "fit_problem"))


def check_settings(problem, loss, fit_intercept, loss_scaling, who):
    """A clear error when ``problem`` was prepared with other settings than
    ``who`` uses (None: not given)."""
    given = {"loss": loss, "fit_intercept": fit_intercept, "loss_scaling": loss_scaling}
    prepared = {"loss": problem.loss.name, "fit_intercept": problem.fit_intercept,
                "loss_scaling": problem.loss_scaling}
    wrong = {k: v for k, v in given.items() if v is not None and v != prepared[k]}
    if wrong:
        raise ValueError(
            f"the problem was prepared with loss={prepared['loss']!r}, fit_intercept="
            f"{prepared['fit_intercept']}, loss_scaling={prepared['loss_scaling']!r}; "
            f"{who} has {', '.join(f'{k}={v!r}' for k, v in wrong.items())}: prepare it again.")


def param_threshold(estimator, objective, param):
    """The norm that ``param`` multiplies (:attr:`Part.threshold`), or a clear error."""
    part = objective.part(param)
    norm = None if part is None else part.threshold
    if norm is None:
        has = sorted(p.param for p in objective.parts if p.threshold is not None)
        has = f"; it has one for {has}" if has else ""
        raise ValueError(
            f"{type(estimator).__name__} has no closed-form threshold for {param!r}: "
            f"that term is smooth at W = 0 (zero gradient), so no finite {param} "
            f"makes W = 0 optimal{has}. Give the grid of {param} values explicitly."
        )
    return norm


def problem_alpha_max(problem, norm):
    """``alpha_max`` of ``norm`` (a ``NORMS`` key or a norm penalty) on a prepared problem."""
    if isinstance(norm, str):
        if norm not in NORMS:
            raise ValueError(f"penalty must be one of {sorted(NORMS)}, got {norm!r}.")
        norm = NORMS[norm](problem.xp, 1.0)
    elif not isinstance(norm, NormPenalty):
        raise TypeError(f"alpha_max needs a norm penalty or one of {sorted(NORMS)}; got "
                        f"{type(norm).__name__}.")
    return norm.alpha_max(_at_zero(problem)[1])


def part_ceiling(objective, param, zero_objective):
    """Two-part models: the value of ``param`` above which its part is zero
    whatever the data, or None.

    With the part zero, the other part ``Q`` solves its own problem, whose
    optimality gives ``-grad f(Q) = s g + 2 ridge Q`` with ``B*(g) <= 1``;
    the part stays zero iff ``A*(grad f(Q)) <= alpha``, and
    ``A*(grad f(Q)) <= c s + 2 ridge kappa ||Q||_F`` where
    ``ridge ||Q||_F^2 <= F(0)`` (the losses are non-negative).  So the part is
    zero once ``param >= c s + 2 kappa sqrt(ridge F(0))``.
    """
    part = objective.part(param)
    if part is None or part.ceiling is None or objective.n_parts != 2:
        return None
    other = [p for p in objective.parts if p is not part][0]
    c, kappa = part.ceiling
    ridge = part.penalty.ridge
    return c * other.penalty.alpha + kappa * 2.0 * math.sqrt(ridge * max(zero_objective, 0.0))
