"""Graph Laplacian quadratic: tasks joined by an edge are pulled together."""

import warnings

import numpy as np

from .._backend import device, small_linalg, to_numpy
from ._base import SmoothTerm

__all__ = ["GraphQuadratic", "graph_laplacian"]


class GraphQuadratic(SmoothTerm):
    """``alpha * tr(W L W^T) + ridge * ||W||_F^2`` as a smooth term of ``coef``
    (``W = coef.T``, ``L`` the ``n_tasks x n_tasks`` Laplacian).

    ``tr(W L W^T) = sum_{a<b} A_ab ||w_a - w_b||^2`` for ``L = D - A``.  The
    gradient is ``2 (alpha L + ridge I) coef``, Lipschitz with constant
    ``2 (alpha lambda_max(L) + ridge)``.  With ``ridge > 0`` the quadratic is
    positive definite and its conjugate ``tr(V^T Q^-1 V) / 4``
    (``Q = alpha L + ridge I``, through the eigendecomposition of ``L``)
    certifies a duality gap; with ``ridge = 0`` it is finite only on the
    range of ``L`` (``has_range_conjugate``: ``null_space`` holds the
    orthonormal null vectors of ``L``, one per connected component of the
    graph), where it is ``sum_{lambda > 0} ||u_lambda^T V||^2 / (4 alpha lambda)``.
    For a graph Laplacian (non-positive off-diagonal entries) the null vectors
    are the normalized indicators of the connected components (disjoint
    supports, so the range system is one ``d x d`` block per component); for
    a general positive semidefinite ``L`` (an incidence matrix ``R``,
    ``L = R R^T``) they are ``eigh``'s.  ``is_two_homogeneous``: the term is
    the quadratic form ``<W, Q W>``, which certifies the gap under the L1
    penalty too.  ``has_prox``: ``(I + 2 step Q)^-1``, diagonal in the
    eigenbasis of ``L`` (ADMM splits the squared loss's Gram form from it).
    """

    is_two_homogeneous = True
    has_prox = True

    def __init__(self, xp, alpha, laplacian, ridge=0.0, like=None):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        lam, U = small_linalg(np, "eigh", laplacian)
        self._lam_max = max(float(lam[-1]), 0.0) if lam.size else 0.0
        dev = device(like) if like is not None else None
        dtype = like.dtype if like is not None else xp.float64
        self.L = xp.asarray(laplacian, dtype=dtype, device=dev)
        self._U = xp.asarray(U, dtype=dtype, device=dev)
        self._q = np.maximum(lam, 0.0) * self.alpha + self.ridge  # eigenvalues of Q
        self.has_conjugate = self.ridge > 0
        # eigenvalues of L at its rounding level are its null space (eigh is backward
        # stable: errors of a few n eps lambda_max)
        T = lam.shape[0]
        flat = lam <= 64 * max(T, 1) * np.finfo(np.float64).eps * max(self._lam_max, 1e-300)
        self.has_range_conjugate = self.ridge == 0.0
        null = U[:, flat]
        if self.alpha == 0.0:  # no graph term: every task is its own component
            flat = np.ones_like(flat)
            null = np.eye(T)
        elif null.shape[1] and _is_graph_laplacian(laplacian):
            null = _component_indicators(laplacian)
            if null.shape[1] != int(np.sum(flat)):  # eigh and the graph disagree: keep eigh's
                null = U[:, flat]
        self.null_space = xp.asarray(null, dtype=dtype, device=dev)
        self._range = ~flat

    def value_and_grad(self, coef):
        xp = self.xp
        LW = self.L @ coef
        value = self.alpha * xp.sum(coef * LW) + self.ridge * xp.sum(coef * coef)
        return value, 2.0 * (self.alpha * LW + self.ridge * coef)

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def lipschitz(self):
        return 2.0 * (self.alpha * self._lam_max + self.ridge)

    def prox(self, coef, step):
        """``(I + 2 step Q)^-1 coef``, ``Q = alpha L + ridge I``: in the eigenbasis
        of ``L`` (computed once) a scaling per direction, for every feature at once.
        ``step`` may be one per feature (shape ``(n_features,)``): the term is a
        sum over the features, so each column takes its own."""
        xp = self.xp
        q = xp.asarray(self._q, dtype=coef.dtype, device=device(coef))
        shrink = 1.0 / (1.0 + 2.0 * q[:, None] * step)
        return self._U @ (shrink * (xp.permute_dims(self._U, (1, 0)) @ coef))

    def conjugate(self, V):
        xp = self.xp
        P = xp.permute_dims(self._U, (1, 0)) @ V  # eigen-coordinates of V's task side
        per_direction = to_numpy(xp.sum(P * P, axis=1))
        return float(np.sum(per_direction / self._q)) / 4.0

    def range_conjugate(self, V):
        xp = self.xp
        P = xp.permute_dims(self._U, (1, 0)) @ V
        per_direction = to_numpy(xp.sum(P * P, axis=1))[self._range]
        return float(np.sum(per_direction / self._q[self._range])) / 4.0


def _is_graph_laplacian(L):
    off = L - np.diag(np.diag(L))
    return bool(np.all(off <= 0))


def _component_indicators(L):
    """Orthonormal indicators of the connected components of the graph of ``L``
    (``n_tasks x n_components``)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    k, labels = connected_components(csr_matrix(L != 0), directed=False)
    N = np.zeros((L.shape[0], k))
    N[np.arange(L.shape[0]), labels] = 1.0
    return N / np.sqrt(N.sum(axis=0))


def graph_laplacian(graph, labels, graph_format="auto"):
    """The ``n_tasks x n_tasks`` Laplacian ``L`` of a task graph (host NumPy).

    Parameters
    ----------
    graph : None, array-like or sequence of tuples
        ``None``: the complete graph with unit weights.  A ``T x T`` weighted
        adjacency ``A`` (symmetric, non-negative, diagonal ignored) in the
        order of ``labels``: ``L = diag(A 1) - A``.  An edge list of
        ``(label_a, label_b)`` or ``(label_a, label_b, weight)``; each
        unordered edge counts once, repeated edges add up, self-loops count
        nothing.  MALSAR's ``T x m`` incidence matrix ``R``: ``L = R R^T``
        (so that ``tr(W L W^T) = ||W R||_F^2``).
    labels : ndarray of shape (n_tasks,)
        Sorted task labels.
    graph_format : {"auto", "adjacency", "edges", "incidence"}
        ``"auto"``: a sequence of tuples is an edge list; an array (or a list
        of lists) is an adjacency when it is ``T x T``, else an incidence
        matrix.

    Returns
    -------
    ndarray of shape (n_tasks, n_tasks)
    """
    T = len(labels)
    if graph is None:
        return T * np.eye(T) - np.ones((T, T))
    auto = graph_format == "auto"
    if auto:
        graph_format = _guess_format(graph, T)
    if graph_format == "edges":
        return _edges_laplacian(graph, labels)
    try:
        M = np.asarray(graph, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"graph_format={graph_format!r} needs a numeric matrix; got "
                         f"{type(graph).__name__} with non-numeric entries (an edge list of "
                         f"labels needs graph_format='edges' or 'auto').") from None
    if M.ndim != 2:
        raise ValueError(f"graph must be a 2-D matrix or a list of edges; got an array of "
                         f"shape {M.shape}.")
    if not np.all(np.isfinite(M)):
        raise ValueError("graph contains NaN or infinite weights.")
    if graph_format == "incidence":
        if M.shape[0] != T:
            if auto:
                raise ValueError(
                    f"graph has shape {M.shape} for {T} tasks: an adjacency must be {T} x {T} "
                    f"(in the order of the sorted task labels) and an incidence matrix R must "
                    f"have {T} rows.")
            raise ValueError(f"the incidence matrix R must have one row per task: got shape "
                             f"{M.shape} for {T} tasks.")
        return M @ M.T
    if M.shape != (T, T):
        raise ValueError(f"the adjacency matrix must be n_tasks x n_tasks = {T} x {T} (in the "
                         f"order of the sorted task labels); got shape {M.shape}.")
    hint = (" If graph is MALSAR's / RMTL's incidence matrix R (penalty ||W R||_F^2), pass "
            "graph_format='incidence'." if auto else "")
    if np.any(np.diag(M) != 0):
        warnings.warn("the adjacency matrix has a non-zero diagonal, which is ignored (a "
                      "self-loop adds nothing to sum_ab A_ab ||w_a - w_b||^2)." + hint,
                      UserWarning, stacklevel=3)
    A = M.copy()
    np.fill_diagonal(A, 0.0)
    if np.any(A < 0):
        raise ValueError("the adjacency matrix has negative weights; edge weights must be >= 0 "
                         "(a negative weight would make the penalty non-convex)." + hint)
    if not np.allclose(A, A.T, rtol=1e-12, atol=0.0):
        raise ValueError("the adjacency matrix must be symmetric: A[a, b] is the weight of the "
                         "edge {a, b}.")
    return np.diag(A.sum(axis=1)) - A


def _guess_format(graph, T):
    """An array (or a list of lists) is a matrix; a sequence of tuples is an
    edge list (``graph_format`` says it explicitly when that is ambiguous)."""
    if isinstance(graph, (list, tuple)) and (len(graph) == 0 or isinstance(graph[0], tuple)):
        return "edges"
    M = np.asarray(graph)
    if M.ndim == 2 and M.dtype.kind in "biuf":
        return "adjacency" if M.shape == (T, T) else "incidence"
    if M.dtype.kind in "biuf" and M.ndim != 2:
        return "adjacency"  # a numeric array of another shape: the matrix check says so
    return "edges"


def _edges_laplacian(edges, labels):
    T = len(labels)
    index = {_key(v): i for i, v in enumerate(np.asarray(labels).tolist())}
    A = np.zeros((T, T))
    unknown = []
    for edge in edges:
        if not isinstance(edge, (list, tuple)) or len(edge) not in (2, 3):
            raise ValueError(f"each edge must be (label_a, label_b) or (label_a, label_b, "
                             f"weight); got {edge!r}.")
        a, b = _key(edge[0]), _key(edge[1])
        try:
            w = float(edge[2]) if len(edge) == 3 else 1.0
        except (TypeError, ValueError):
            raise ValueError(f"edge {edge!r}: the third entry is the weight and must be a "
                             f"number.") from None
        missing = [v for v in (edge[0], edge[1]) if _key(v) not in index]
        if missing:
            unknown.extend(missing)
            continue
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"edge {edge!r} has weight {w}; weights must be finite and >= 0.")
        i, j = index[a], index[b]
        if i != j:
            A[i, j] += w
            A[j, i] += w
    if unknown:
        raise ValueError(f"graph names task labels that are not among the fitted tasks: "
                         f"{sorted(set(map(repr, unknown)))}; the tasks are "
                         f"{np.asarray(labels).tolist()[:20]}.")
    return np.diag(A.sum(axis=1)) - A


def _key(value):
    """Hashable key of a label: NumPy scalars as Python scalars."""
    return value.item() if isinstance(value, np.generic) else value
