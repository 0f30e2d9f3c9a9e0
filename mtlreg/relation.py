"""Task-relation family: learned task covariance (MTRL) and a known task graph.

Notation as in :mod:`mtlreg.feature`: ``W = coef_.T`` is ``n_features x
n_tasks`` with the task models ``w_t`` as columns.
"""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from ._backend import get_namespace
from ._docstring import estimator_doc
from .base import (SQUARED_TRACE_CONSTRAINTS, MultiTaskClassifierBase, MultiTaskRegressorBase,
                   set_params_from_init)
from .penalties import L1, GraphQuadratic, TaskSquaredTraceNorm, Zero
from .penalties.aso import factored_matrix
from .penalties.graph import complete_laplacian, graph_laplacian
from .problem import Objective, Part

__all__ = ["RelationRegressor", "RelationClassifier", "GraphRegressor", "GraphClassifier",
           "MeanRegularizedRegressor", "MeanRegularizedClassifier", "mean_regularized_as_graph"]

# -- multi-task relationship learning ---------------------------------------------------------

_RELATION_PENALTY = ("alpha * min_Omega tr(W Omega^-1 W^T)  [Omega >= 0, tr Omega = 1; "
                     "= alpha * ||W||_*^2]")

_RELATION_DETAIL = """Multi-task relationship learning (Zhang & Yeung 2010): the task
    covariance ``Omega`` (``n_tasks x n_tasks``) is learned with ``W``; it
    can express positive, negative and no correlation between tasks.  For
    fixed ``W`` the minimizing ``Omega`` is ``(W^T W)^1/2 / tr (W^T W)^1/2``,
    where the penalty equals ``alpha * ||W||_*^2`` (the squared trace norm:
    the same value as MTFL's, whose auxiliary matrix lives on the features).

    Solvers:

    * ``solver="fista"`` (default): FISTA on the equivalent
      ``alpha * ||W||_*^2`` with its exact prox and a certified duality gap
      (as ``MTFLRegressor``).  Reaches the optimum to ``tol``.
    * ``solver="alternating"`` (the paper's method): the W-step
      minimizes ``F(W) + alpha tr(W Omega^-1 W^T) + ridge ||W||_F^2`` for
      fixed ``Omega`` by FISTA (warm started; its prox is closed form in the
      eigenbasis of ``Omega``), the Omega-step is
      ``Omega_eps = (W^T W + eps I)^1/2 / tr (W^T W + eps I)^1/2``.  ``eps``
      keeps ``Omega`` invertible (directions where ``W`` vanishes would make it
      singular): at outer iteration ``k`` it is
      ``min(previous eps, max(10^-k, epsilon) * sigma_max(W)^2)`` (``1`` while
      ``W = 0``), so it falls geometrically to about ``epsilon *
      sigma_max(W)^2`` and never increases.
      Each outer iteration lowers the perturbed objective
      ``F + alpha tr(Omega^-1 (W^T W + eps I)) + ridge ||W||_F^2`` (a W-step
      that would raise it is rejected).  Stops when the relative changes of
      the objective and of ``Omega`` (Frobenius) are both at most ``tol``,
      with ``eps`` at its floor; ``converged_`` is True only if the certified
      gap of the unperturbed problem (``dual_gap_``) then also meets ``tol``,
      otherwise a ConvergenceWarning says that the fit is not certified
      to ``tol``.  Like every
      eps-perturbed scheme it is slow where the optimal ``W`` is rank
      deficient (the small singular values shrink a little per outer
      iteration): offered for comparison with published results; see
      ``docs/relation.md`` for measured figures.

    ``task_covariance_`` is ``Omega_eps`` at the solution with
    ``eps = epsilon * sigma_max(W)^2``, kept in factored form from a thin SVD
    of ``W`` (``task_covariance_factors_``): the FISTA solve and the fitted
    model hold no ``n_tasks x n_tasks`` matrix (the alternating solver's
    Omega-step does: it is for ``n_tasks`` in the thousands at most)."""

_RELATION_PARAMS = """
    solver : {"fista", "alternating"}, default="fista"
        See above.
    epsilon : float, default=1e-12
        Floor of the relative perturbation of the Omega-step."""

_RELATION_ATTRS = """
    task_covariance_factors_ : tuple (V, m, rest)
        The learned task covariance in factored form, ``Omega = V diag(m) V^T +
        rest (I - V V^T)``: ``V`` of shape (n_tasks, r) with orthonormal columns
        (the left singular vectors of ``coef_``, ``r = min(n_tasks,
        n_features)``), ``m`` of shape (r,), ``rest`` a float (``O(n_tasks r)``
        memory).
    task_covariance_ : ndarray of shape (n_tasks, n_tasks)
        The learned task covariance ``Omega`` (trace 1), built from
        ``task_covariance_factors_`` each time it is read (``n_tasks^2``
        numbers: 800 MB at 10,000 tasks in float64).
    task_correlation_ : ndarray of shape (n_tasks, n_tasks)
        ``Omega_ab / sqrt(Omega_aa Omega_bb)``: the learned task correlations,
        in the order of ``tasks_`` (see :func:`mtlreg.plotting.plot_task_matrix`);
        dense, built when read, like ``task_covariance_``."""


class _Relation:
    _parameter_constraints = SQUARED_TRACE_CONSTRAINTS

    def get_objective(self, problem):
        xp = problem.xp
        penalty = TaskSquaredTraceNorm(xp, self.alpha, ridge=self.ridge)

        def readouts(solution):
            return {"task_covariance_factors_": penalty.auxiliary_factors(solution.raw.coef,
                                                                          self.epsilon)}

        return Objective(parts=(Part(penalty),), solver=self.solver,
                         solver_options={"eps_floor": self.epsilon, "stop": "change"}
                         if self.solver == "alternating" else {},
                         readouts=readouts)

    @property
    def task_covariance_(self):
        """The dense ``Omega``, built from ``task_covariance_factors_``."""
        return factored_matrix(*self.task_covariance_factors_)

    @property
    def task_correlation_(self):
        """``Omega_ab / sqrt(Omega_aa Omega_bb)``, dense."""
        omega = self.task_covariance_
        xp = get_namespace(omega)
        root = xp.sqrt(xp.linalg.diagonal(omega))
        return omega / (root[:, None] * root[None, :])


class RelationRegressor(_Relation, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Multi-task relationship learning (MTRL), squared loss.",
                            _RELATION_PENALTY, _RELATION_DETAIL, "1.0", _RELATION_PARAMS,
                            _RELATION_ATTRS)

    def __init__(self, alpha=1.0, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class RelationClassifier(_Relation, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Multi-task relationship learning (MTRL), logistic loss.",
                            _RELATION_PENALTY, _RELATION_DETAIL, "0.01", _RELATION_PARAMS,
                            _RELATION_ATTRS, classifier=True)

    def __init__(self, alpha=0.01, *, solver="fista", epsilon=1e-12, ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


# -- known task graph ------------------------------------------------------------------------

_GRAPH_PENALTY = ("alpha * sum_{a<b} A_ab ||w_a - w_b||^2 + beta * sum_{j,t} |W_jt|  "
                  "[= alpha * tr(W L W^T) + beta * ||W||_1, L = diag(A 1) - A]")

_GRAPH_DETAIL = """Graph-regularized multi-task learning with a known task graph (MALSAR's
    SRMTL, RMTL's ``Graph``): tasks joined by an edge of weight ``A_ab`` are
    pulled together, ``alpha * A_ab * ||w_a - w_b||^2`` per unordered edge
    (counted once).  In matrix form ``alpha * tr(W L W^T)`` with ``L`` the
    graph Laplacian and ``W = coef_.T``.  ``graph=None`` is the complete graph
    with unit weights, ``alpha * n_tasks * sum_t ||w_t - w_mean||^2``
    (mean-regularized MTL, Evgeniou & Pontil 2004, with the shared model
    unpenalized; :class:`MeanRegularizedRegressor` penalizes it too).  A graph without edges
    and ``ridge = beta = 0`` leaves the tasks independent.

    The quadratic (with ``ridge``) is a smooth term of the objective;
    FISTA takes its prox step on ``beta * ||W||_1`` only.  With the squared
    loss (its Gram path) and the Laplacian in dense or closed form (up to
    2,000 tasks, ``graph=None``, or an incidence matrix), ADMM splits the loss
    from the quadratic instead, in variables scaled per feature, which makes it
    insensitive to the features' scales (raw School: 960 iterations, as
    standardized; FISTA stopped at 5,000 without a certificate).  With ``beta >
    0`` and badly scaled features it also splits off the L1 term, after 500
    FISTA iterations (raw School, ``beta = 0.01``: 1,110 iterations in all,
    where FISTA alone stopped at 5,000 without a certificate).
    Every setting stops on a certified duality gap (``dual_gap_``).  With
    ``beta = 0``: the quadratic's conjugate when ``ridge > 0``; when ``ridge =
    0`` the conjugate is finite only on the range of ``L``, and the loss's
    dual point is moved there (per-task Gram matrices, one ``d x d`` solve per
    connected component of the graph; for the logistic loss, in the
    conjugate's own metric when the cheap move would leave its domain).  With ``beta > 0``
    the quadratic is read as a squared loss of ``W``, whose dual point joins
    the L1 term's.  See ``docs/relation.md``."""

_GRAPH_PARAMS = """
    graph : array-like, sequence of tuples or None, default=None
        The task graph: a ``n_tasks x n_tasks`` symmetric non-negative
        adjacency (weights ``A_ab``, diagonal ignored) in the order of the
        sorted task labels (``tasks_``); or an edge list of
        ``(label_a, label_b)`` / ``(label_a, label_b, weight)`` tuples
        (repeated edges add up); or MALSAR's ``n_tasks x m`` incidence matrix
        ``R`` (penalty ``alpha * ||W R||_F^2``, ``L = R R^T``).  ``None``: the
        complete graph with unit weights.  Labels in an edge list that are
        not task labels raise a ValueError.
    beta : float, default=0
        Strength of the elementwise L1 term (MALSAR SRMTL's ``rho_L1``).
    graph_format : {"auto", "adjacency", "edges", "incidence"}, default="auto"
        How to read ``graph``.  ``"auto"``: a sequence of tuples is an edge
        list; an array (or list of lists) is an adjacency when it is
        ``n_tasks x n_tasks``, else an incidence matrix (say
        ``"incidence"`` for a square ``R``)."""

_GRAPH_ATTRS = """
    laplacian_ : scipy.sparse.csr_array of shape (n_tasks, n_tasks)
        The Laplacian ``L`` used (in the order of ``tasks_``), sparse; for
        ``graph=None`` (the complete graph, ``n_tasks^2`` entries) built each
        time it is read."""


class _Graph:
    _parameter_constraints = {
        **MultiTaskRegressorBase._parameter_constraints,
        "graph": ["array-like", "sparse matrix", list, tuple, None],
        "beta": [Interval(Real, 0, None, closed="left")],
        "graph_format": [StrOptions({"auto", "adjacency", "edges", "incidence"})],
    }

    def get_objective(self, problem):
        xp, data = problem.xp, problem.data
        # the complete graph (None) in closed form; any other as a sparse Laplacian
        L = None if self.graph is None else graph_laplacian(self.graph, problem.labels,
                                                            self.graph_format)
        like = xp.empty((0,), dtype=data.dtype, device=data.device)
        term = GraphQuadratic(xp, self.alpha, L, ridge=self.ridge, like=like,
                              n_tasks=problem.n_tasks)
        # The graph term is smooth with zero gradient at W = 0: W = 0 exactly
        # when beta reaches the L1 threshold, whatever alpha is.
        l1 = L1(xp, self.beta) if self.beta > 0 else Zero(xp)
        return Objective(parts=(Part(l1, param="beta", norm="l1"),), smooth=term,
                         readouts=lambda solution: {"_laplacian": L})

    @property
    def laplacian_(self):
        """The Laplacian used, sparse; the complete graph's is built when read."""
        L = self._laplacian
        return complete_laplacian(self.n_tasks_) if L is None else L


class GraphRegressor(_Graph, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Graph-regularized multi-task regression (known task graph).",
                            _GRAPH_PENALTY, _GRAPH_DETAIL, "1.0", _GRAPH_PARAMS, _GRAPH_ATTRS)

    def __init__(self, alpha=1.0, *, graph=None, beta=0.0, graph_format="auto", ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


class GraphClassifier(_Graph, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Graph-regularized multi-task logistic regression.",
                            _GRAPH_PENALTY, _GRAPH_DETAIL, "0.01", _GRAPH_PARAMS, _GRAPH_ATTRS,
                            classifier=True)

    def __init__(self, alpha=0.01, *, graph=None, beta=0.0, graph_format="auto", ridge=0.0,
                 loss_scaling="mean", fit_intercept=True, tol=1e-6, max_iter=5000,
                 warm_start=False, device=None):
        set_params_from_init(self, locals())


# -- mean-regularized multi-task learning ------------------------------------------------------

_MEAN_PENALTY = ("alpha * sum_t ||v_t||^2 + beta * ||w_0||^2  "
                 "[w_t = w_0 + v_t, minimized over w_0 too]")

_MEAN_DETAIL = """Mean-regularized multi-task learning (Evgeniou & Pontil, KDD 2004,
    "Regularized multi-task learning"): each task's model is a shared model
    ``w_0`` plus its own deviation ``v_t``; ``alpha`` pulls the tasks towards the
    shared model and ``beta`` shrinks the shared model.  ``alpha -> inf``: one
    model ``w_0`` for all tasks, with the penalty ``beta ||w_0||^2``;
    ``alpha = 0``: independent tasks (with ``ridge`` only).

    The minimum over ``w_0`` is in closed form, ``w_0 = alpha T w_mean /
    (alpha T + beta)`` (``w_mean`` the mean of the task models), so the
    penalty is the quadratic ``alpha sum_t ||w_t - w_mean||^2 + (alpha beta T
    / (alpha T + beta)) ||w_mean||^2`` of ``W`` alone.  That is
    the Graph estimator on the complete graph (``graph=None``) with
    ``alpha' = alpha^2 / (alpha T + beta)`` and ``ridge' = ridge + alpha beta /
    (alpha T + beta)`` (:func:`mean_regularized_as_graph`), and it is solved
    as that one (ADMM on the squared loss's Gram path, else FISTA), with a
    certified duality gap.  ``beta = 0`` leaves ``w_0 = w_mean`` free:
    ``GraphRegressor(graph=None, alpha=alpha / T)``.  See
    ``docs/relation.md``."""

_MEAN_PARAMS = """
    beta : float, default=0.1
        Strength of ``||w_0||^2``, the shared model's shrinkage."""

_MEAN_ATTRS = """
    coef_shared_ : ndarray of shape (n_features,)
        The shared model ``w_0`` (0 when ``alpha = beta = 0``, where any ``w_0``
        is optimal).
    coef_specific_ : ndarray of shape (n_tasks, n_features)
        The deviations ``v_t = w_t - w_0``; ``coef_ = coef_shared_ +
        coef_specific_``."""


def mean_regularized_as_graph(alpha, beta, n_tasks, ridge=0.0):
    """``(alpha', ridge')`` of the complete-graph penalty ``alpha' sum_{a<b} ||w_a -
    w_b||^2 + ridge' ||W||_F^2`` that equals ``min_{w_0} alpha sum_t ||w_t - w_0||^2 +
    beta ||w_0||^2 + ridge ||W||_F^2``.

    With ``sum_t ||w_t - w_0||^2 = sum_t ||w_t - w_mean||^2 + T ||w_mean - w_0||^2``
    the minimum over ``w_0`` is ``alpha sum_t ||w_t - w_mean||^2 + k ||w_mean||^2``,
    ``k = alpha beta T / (alpha T + beta)``; the complete graph's term is
    ``alpha' T sum_t ||w_t - w_mean||^2`` and ``||W||_F^2 = sum_t ||w_t - w_mean||^2 +
    T ||w_mean||^2``, so ``ridge' = ridge + k / T`` and ``alpha' T + ridge' = alpha +
    ridge``."""
    denominator = alpha * n_tasks + beta
    if denominator == 0.0:  # alpha = beta = 0: no pull and no shrinkage
        return 0.0, float(ridge)
    return alpha * alpha / denominator, float(ridge) + alpha * beta / denominator


class _MeanRegularized:
    _parameter_constraints = {
        **MultiTaskRegressorBase._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def get_objective(self, problem):
        xp, data, T = problem.xp, problem.data, problem.n_tasks
        alpha, ridge = mean_regularized_as_graph(self.alpha, self.beta, T, self.ridge)
        like = xp.empty((0,), dtype=data.dtype, device=data.device)
        term = GraphQuadratic(xp, alpha, None, ridge=ridge, like=like, n_tasks=T)
        denominator = self.alpha * T + self.beta
        pull = 0.0 if denominator == 0.0 else self.alpha * T / denominator

        def readouts(solution):
            shared = pull * xp.mean(solution.coef, axis=0) if pull > 0 else \
                xp.zeros_like(solution.coef[0, ...])
            return {"coef_shared_": shared, "coef_specific_": solution.coef - shared[None, :]}

        return Objective(parts=(Part(Zero(xp)),), smooth=term, readouts=readouts)


class MeanRegularizedRegressor(_MeanRegularized, MultiTaskRegressorBase):
    __doc__ = estimator_doc("Mean-regularized multi-task regression (shared model plus "
                            "task deviations).", _MEAN_PENALTY, _MEAN_DETAIL, "1.0",
                            _MEAN_PARAMS, _MEAN_ATTRS)

    def __init__(self, alpha=1.0, *, beta=0.1, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())


class MeanRegularizedClassifier(_MeanRegularized, MultiTaskClassifierBase):
    __doc__ = estimator_doc("Mean-regularized multi-task logistic regression.",
                            _MEAN_PENALTY, _MEAN_DETAIL, "0.01",
                            _MEAN_PARAMS.replace("default=0.1", "default=0.001"), _MEAN_ATTRS,
                            classifier=True)

    def __init__(self, alpha=0.01, *, beta=0.001, ridge=0.0, loss_scaling="mean",
                 fit_intercept=True, tol=1e-6, max_iter=5000, warm_start=False, device=None):
        set_params_from_init(self, locals())
