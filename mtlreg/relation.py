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

__all__ = ["RelationRegressor", "RelationClassifier", "GraphRegressor", "GraphClassifier"]

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
    (mean-regularized MTL, Evgeniou & Pontil 2004).  A graph without edges
    and ``ridge = beta = 0`` leaves the tasks independent.

    The quadratic (with ``ridge``) is a smooth term of the objective;
    FISTA takes its prox step on ``beta * ||W||_1`` only.  With the squared
    loss (its Gram path) and a graph of at most 2,000 tasks or ``graph=None``, ADMM splits the
    loss from the quadratic instead (and from the L1 term when ``beta > 0``),
    in variables scaled per feature, which makes it insensitive to the
    features' scales (raw School: 960 iterations, as standardized; FISTA
    stopped at 5,000 without a certificate; with ``beta = 0.01``, 570 ADMM
    iterations where FISTA stopped at 5,000 without one).  Every setting
    stops on a certified duality gap (``dual_gap_``).  With ``beta = 0``: the
    quadratic's conjugate when ``ridge > 0``; when ``ridge = 0`` the conjugate
    is finite only on the range of ``L``, and the loss's dual point is moved
    there (per-task Gram matrices, one ``d x d`` solve per connected
    component of the graph; for the logistic loss, in the conjugate's own
    metric when the cheap move would leave its domain).  With ``beta > 0``
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
        "graph": ["array-like", list, tuple, None],
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
