"""Graph Laplacian quadratic: tasks joined by an edge are pulled together."""

import warnings

import numpy as np
import scipy.sparse as sp

from .._backend import device, is_numpy_namespace, small_linalg, to_numpy
from ._base import SmoothTerm

__all__ = ["GraphQuadratic", "graph_laplacian", "complete_laplacian", "EIGEN_LIMIT"]

# Up to this many tasks a graph's Laplacian is handled through its dense
# eigendecomposition (exact prox, hence ADMM); above it a sparse Laplacian stays
# sparse and the complete graph keeps its closed form.
EIGEN_LIMIT = 2000


class GraphQuadratic(SmoothTerm):
    """``alpha * tr(W L W^T) + ridge * ||W||_F^2`` as a smooth term of ``coef``
    (``W = coef.T``, ``L`` the ``n_tasks x n_tasks`` Laplacian).

    ``tr(W L W^T) = sum_{a<b} A_ab ||w_a - w_b||^2`` for ``L = D - A``.  The
    gradient is ``2 (alpha L + ridge I) coef``, Lipschitz with constant
    ``2 (alpha lambda_max(L) + ridge)``.  With ``ridge > 0`` the quadratic is
    positive definite and its conjugate ``tr(V^T Q^-1 V) / 4``
    (``Q = alpha L + ridge I``) certifies a duality gap; with ``ridge = 0`` it
    is finite only on the range of ``L`` (``has_range_conjugate``:
    ``null_space`` holds the orthonormal null vectors of ``L``, one per
    connected component of the graph), where it is
    ``tr(V^T (alpha L)^+ V) / 4``.  For a graph Laplacian (non-positive
    off-diagonal entries) the null vectors are the normalized indicators of
    the connected components (disjoint supports, so the range system is one
    ``d x d`` block per component); for a general positive semidefinite ``L``
    (an incidence matrix ``R``, ``L = R R^T``) they are ``eigh``'s.
    ``is_two_homogeneous``: the term is the quadratic form ``<W, Q W>``, which
    certifies the gap under the L1 penalty too.

    ``L`` is held in one of three forms (:class:`_Eigen`, :class:`_Complete`,
    :class:`_Sparse`):

    * ``laplacian=None``: the complete graph with unit weights,
      ``L = T I - 1 1^T``, in closed form (``O(T d)`` per product, any ``T``);
    * up to :data:`EIGEN_LIMIT` tasks, or a Laplacian that is not a graph's:
      its dense eigendecomposition, computed once (``O(T^3)``);
    * a graph Laplacian of more tasks: a sparse matrix (``O(nnz(L) d)`` per
      product).  ``lambda_max(L)`` is bounded by ``max_{a~b} (d_a + d_b)``
      (exact on a ring of an even number of tasks), and the conjugate takes one sparse LU
      factorization (``Q``, or ``L`` grounded at one task per component),
      once per fit.

    ``has_prox`` (the eigen and closed forms): ``(I + 2 step Q)^-1``, diagonal
    in the eigenbasis of ``L`` (ADMM splits the squared loss's Gram form from
    it); a sparse ``L`` has no such prox, and FISTA runs instead.

    ``sparse``: None chooses the form by the size as above; True or False
    forces the sparse or the eigen form (``laplacian`` given).
    """

    is_two_homogeneous = True

    def __init__(self, xp, alpha, laplacian, ridge=0.0, like=None, n_tasks=None, sparse=None):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        dev = device(like) if like is not None else None
        dtype = like.dtype if like is not None else xp.float64
        if laplacian is None:
            form = _Complete(xp, int(n_tasks), dtype, dev)
        else:
            L = sp.csr_matrix(laplacian, dtype=np.float64) if sp.issparse(laplacian) \
                else np.asarray(to_numpy(laplacian) if hasattr(laplacian, "__dlpack__")
                                else laplacian, dtype=np.float64)
            is_graph = _is_graph_laplacian(L)
            sparse_ok = is_graph and _rows_sum_to_zero(L)
            if sparse and not sparse_ok:
                raise ValueError("sparse=True needs a graph Laplacian (L = diag(A 1) - A, A >= 0)")
            if sparse is None:
                sparse = sparse_ok and L.shape[0] > EIGEN_LIMIT
            if sparse:
                form = _Sparse(xp, L, dtype, dev)
            else:
                form = _Eigen(xp, L.toarray() if sp.issparse(L) else L, is_graph, dtype, dev)
        self.form = form
        self._lam_max = form.lam_max
        self.has_prox = form.has_resolvent
        self.has_conjugate = self.ridge > 0
        self.has_range_conjugate = self.ridge == 0.0
        self._null_like = (dtype, dev)
        self._null = None

    @property
    def null_space(self):
        """Orthonormal null vectors of ``alpha L`` (``T x k``), built when first read: only
        the range certificate (``ridge = 0``) reads them.  ``alpha = 0``: every task is
        its own component, ``k = T``."""
        if self._null is None:
            T = self.form.n_tasks
            null = np.eye(T) if self.alpha == 0.0 else self.form.null_space()
            dtype, dev = self._null_like
            self._null = self.xp.asarray(null, dtype=dtype, device=dev)
        return self._null

    @property
    def laplacian(self):
        """``L`` on the host: a SciPy sparse matrix, a dense array, or None (complete graph)."""
        return self.form.host

    def value_and_grad(self, coef):
        xp = self.xp
        LW = self.form.matmul(coef)
        value = self.alpha * xp.sum(coef * LW) + self.ridge * xp.sum(coef * coef)
        return value, 2.0 * (self.alpha * LW + self.ridge * coef)

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def lipschitz(self):
        return 2.0 * (self.alpha * self._lam_max + self.ridge)

    def prox(self, coef, step):
        """``(I + 2 step Q)^-1 coef``, ``Q = alpha L + ridge I``: a scaling per
        eigen-direction of ``L``, for every feature at once.  ``step`` may be one
        per feature (shape ``(n_features,)``): the term is a sum over the
        features, so each column takes its own."""
        if not self.has_prox:
            raise NotImplementedError("a sparse Laplacian has no closed-form prox")
        return self.form.resolvent(coef, lambda lam: 1.0 / (
            1.0 + 2.0 * (self.alpha * lam + self.ridge) * step))

    def conjugate(self, V):
        return self.form.inverse_form(V, self.alpha, self.ridge) / 4.0

    def range_conjugate(self, V):
        if self.alpha == 0.0:  # no graph: the range is {0}
            return 0.0
        return self.form.inverse_form(V, self.alpha, 0.0) / 4.0


class _Eigen:
    """``L`` through its dense eigendecomposition ``U diag(lam) U^T`` (host ``eigh``)."""

    has_resolvent = True

    def __init__(self, xp, L, is_graph, dtype, dev):
        self.xp, self.host, self.n_tasks = xp, L, L.shape[0]
        lam, U = small_linalg(np, "eigh", L)
        T = self.n_tasks
        self.lam_max = max(float(lam[-1]), 0.0) if lam.size else 0.0
        self.lam = np.maximum(lam, 0.0)
        # eigenvalues of L at its rounding level are its null space (eigh is backward
        # stable: errors of a few n eps lambda_max)
        self.flat = lam <= 64 * max(T, 1) * np.finfo(np.float64).eps * max(self.lam_max, 1e-300)
        self._U_host, self._is_graph = U, is_graph
        self.L = xp.asarray(L, dtype=dtype, device=dev)
        self.U = xp.asarray(U, dtype=dtype, device=dev)

    def null_space(self):
        null = self._U_host[:, self.flat]
        if null.shape[1] and self._is_graph:
            indicators = _component_indicators(self.host)
            if indicators.shape[1] == null.shape[1]:  # else eigh and the graph disagree
                null = indicators
        return null

    def matmul(self, coef):
        return self.L @ coef

    def resolvent(self, coef, h):
        """``h(L) coef`` for a function ``h`` of the eigenvalues (a ``(T, 1)`` array)."""
        xp = self.xp
        lam = xp.asarray(self.lam, dtype=coef.dtype, device=device(coef))[:, None]
        return self.U @ (h(lam) * (xp.permute_dims(self.U, (1, 0)) @ coef))

    def inverse_form(self, V, alpha, ridge):
        """``tr(V^T (alpha L + ridge I)^+ V)``, over the range of ``L`` when ``ridge = 0``."""
        xp = self.xp
        P = xp.permute_dims(self.U, (1, 0)) @ V  # eigen-coordinates of V's task side
        per_direction = to_numpy(xp.sum(P * P, axis=1))
        keep = ~self.flat if ridge == 0.0 else np.ones_like(self.flat)
        return float(np.sum(per_direction[keep] / (alpha * self.lam[keep] + ridge)))


class _Complete:
    """The complete graph with unit weights, ``L = T I - 1 1^T``: eigenvalue ``T`` on
    the vectors orthogonal to ``1``, ``0`` on ``1`` (closed forms, ``O(T d)``)."""

    has_resolvent = True
    host = None

    def __init__(self, xp, n_tasks, dtype, dev):
        self.xp, self.n_tasks = xp, n_tasks
        self.lam_max = float(n_tasks) if n_tasks > 1 else 0.0

    def null_space(self):
        return np.full((self.n_tasks, 1), 1.0 / np.sqrt(self.n_tasks))

    def _split(self, coef):
        mean = self.xp.mean(coef, axis=0, keepdims=True)
        return coef - mean, mean

    def matmul(self, coef):
        return self.n_tasks * self._split(coef)[0]

    def resolvent(self, coef, h):
        xp = self.xp
        centred, mean = self._split(coef)
        on = xp.full((1, 1), float(self.n_tasks), dtype=coef.dtype, device=device(coef))
        return h(on) * centred + h(xp.zeros_like(on)) * mean

    def inverse_form(self, V, alpha, ridge):
        xp = self.xp
        centred, mean = self._split(V)
        out = 0.0
        if self.n_tasks > 1:
            out += float(xp.sum(centred * centred)) / (alpha * self.n_tasks + ridge)
        if ridge > 0.0:
            out += self.n_tasks * float(xp.sum(mean * mean)) / ridge
        return out


class _Sparse:
    """A graph Laplacian as a SciPy sparse matrix (on the host; on CuPy's device a
    ``cupyx`` copy for the products).  ``lambda_max(L) <= max_{a~b} (d_a + d_b)``
    (Anderson & Morley 1985; weighted degrees, Gershgorin on ``B^T B W`` with ``B``
    the incidence matrix); the conjugate factors ``Q`` (or ``L`` grounded at one
    task per connected component) once, by sparse LU."""

    has_resolvent = False

    def __init__(self, xp, L, dtype, dev):
        L = sp.csr_matrix(L, dtype=np.float64, copy=True)  # never the caller's arrays
        L.eliminate_zeros()
        self.xp, self.host, self.n_tasks = xp, L, L.shape[0]
        edges = sp.triu(L, k=1).tocoo()
        deg = L.diagonal()
        self.lam_max = float(np.max(deg[edges.row] + deg[edges.col])) if edges.nnz else 0.0
        self._factors = {}
        if is_numpy_namespace(xp):
            self._product = L.astype(dtype)
        elif _is_cupy(xp):
            import cupyx.scipy.sparse as csp

            self._product = csp.csr_matrix(L.astype(np.float64)).astype(dtype)
        else:  # another array library: products on the host
            self._product = None

    def null_space(self):
        return _component_indicators(self.host)

    def matmul(self, coef):
        if self._product is not None:
            return self._product @ coef
        xp = self.xp
        return xp.asarray(self.host @ to_numpy(coef), dtype=coef.dtype, device=device(coef))

    def inverse_form(self, V, alpha, ridge):
        V = np.asarray(to_numpy(V), dtype=np.float64)
        if ridge > 0.0:
            solve = self._factor((alpha, ridge), lambda: alpha * self.host + ridge * sp.identity(
                self.n_tasks, format="csr"))
            return float(np.sum(V * solve(V)))
        # on the range of L: V minus its means over each component, then L grounded at
        # the first task of each component (non-singular; the dropped rows' equations
        # hold because V sums to zero over each component), L^+ V = x
        k, labels, sizes, keep = self._grounding()
        sums = np.zeros((k, V.shape[1]))
        np.add.at(sums, labels, V)
        V = V - (sums / sizes[:, None])[labels]
        if not np.any(keep):
            return 0.0
        solve = self._factor((alpha, 0.0), lambda: alpha * self.host[keep][:, keep])
        return float(np.sum(V[keep] * solve(V[keep])))

    def _grounding(self):
        """``(k, labels, sizes, keep)``: the connected components, and the tasks left
        when the first of each is removed (computed once)."""
        if "grounding" not in self._factors:
            k, labels = _components(self.host)
            keep = np.ones(self.n_tasks, dtype=bool)
            keep[np.unique(labels, return_index=True)[1]] = False
            self._factors["grounding"] = (k, labels, np.bincount(labels, minlength=k), keep)
        return self._factors["grounding"]

    def _factor(self, key, matrix):
        if key not in self._factors:
            from scipy.sparse.linalg import splu

            self._factors[key] = splu(sp.csc_matrix(matrix()), permc_spec="MMD_AT_PLUS_A").solve
        return self._factors[key]


def _is_cupy(xp):
    return "cupy" in getattr(xp, "__name__", "")


def _is_graph_laplacian(L):
    """Non-positive off-diagonal entries (dense or sparse ``L``)."""
    if sp.issparse(L):
        off = sp.csr_matrix(L) - sp.diags(L.diagonal())
        return bool(np.all(off.data <= 0))
    off = L - np.diag(np.diag(L))
    return bool(np.all(off <= 0))


def _rows_sum_to_zero(L):
    """``L 1 = 0`` to rounding: a graph's Laplacian, with no extra diagonal."""
    rows = np.abs(np.asarray(L.sum(axis=1)).ravel())
    return bool(np.all(rows <= 64 * L.shape[0] * np.finfo(np.float64).eps * np.abs(
        L.diagonal())))


def _components(L):
    from scipy.sparse.csgraph import connected_components

    pattern = sp.csr_matrix(L, copy=True)
    pattern.setdiag(0)
    pattern.eliminate_zeros()
    return connected_components(pattern != 0, directed=False)


def _component_indicators(L):
    """Orthonormal indicators of the connected components of the graph of ``L``
    (``n_tasks x n_components``)."""
    k, labels = _components(L)
    N = np.zeros((L.shape[0], k))
    N[np.arange(L.shape[0]), labels] = 1.0
    return N / np.sqrt(N.sum(axis=0))


def complete_laplacian(n_tasks):
    """The Laplacian ``T I - 1 1^T`` of the complete graph with unit weights, as a
    sparse matrix (``T^2`` stored entries, 12 bytes each with 32-bit indices: 1.2 GB
    at 10,000 tasks, and as much again for a dense temporary while it is built)."""
    T = int(n_tasks)
    L = np.full((T, T), -1.0)
    np.fill_diagonal(L, T - 1.0)
    return sp.csr_array(L)


def graph_laplacian(graph, labels, graph_format="auto"):
    """The ``n_tasks x n_tasks`` Laplacian ``L`` of a task graph, sparse (host SciPy).

    Parameters
    ----------
    graph : None, array-like, sparse matrix or sequence of tuples
        ``None``: the complete graph with unit weights.  A ``T x T`` weighted
        adjacency ``A`` (dense or SciPy sparse; symmetric, non-negative,
        diagonal ignored) in the order of ``labels``: ``L = diag(A 1) - A``.
        An edge list of ``(label_a, label_b)`` or ``(label_a, label_b,
        weight)``; each unordered edge counts once, repeated edges add up,
        self-loops count nothing.  MALSAR's ``T x m`` incidence matrix ``R``
        (dense or sparse): ``L = R R^T`` (so that ``tr(W L W^T) = ||W R||_F^2``).
    labels : ndarray of shape (n_tasks,)
        Sorted task labels.
    graph_format : {"auto", "adjacency", "edges", "incidence"}
        ``"auto"``: a sequence of tuples is an edge list; an array (or a list
        of lists, or a sparse matrix) is an adjacency when it is ``T x T``,
        else an incidence matrix.

    Returns
    -------
    scipy.sparse.csr_array of shape (n_tasks, n_tasks)
        ``O(T + n_edges)`` entries for an edge list or a sparse adjacency;
        ``T^2`` for the complete graph (``graph=None``).
    """
    T = len(labels)
    if graph is None:
        return complete_laplacian(T)
    auto = graph_format == "auto"
    if auto:
        graph_format = _guess_format(graph, T)
    if graph_format == "edges":
        return _edges_laplacian(graph, labels)
    M = _numeric_matrix(graph, graph_format)
    if graph_format == "incidence":
        if M.shape[0] != T:
            if auto:
                raise ValueError(
                    f"graph has shape {M.shape} for {T} tasks: an adjacency must be {T} x {T} "
                    f"(in the order of the sorted task labels) and an incidence matrix R must "
                    f"have {T} rows.")
            raise ValueError(f"the incidence matrix R must have one row per task: got shape "
                             f"{M.shape} for {T} tasks.")
        R = sp.csr_matrix(M)
        return sp.csr_array(R @ R.T)
    if M.shape != (T, T):
        raise ValueError(f"the adjacency matrix must be n_tasks x n_tasks = {T} x {T} (in the "
                         f"order of the sorted task labels); got shape {M.shape}.")
    hint = (" If graph is MALSAR's / RMTL's incidence matrix R (penalty ||W R||_F^2), pass "
            "graph_format='incidence'." if auto else "")
    A = sp.csr_matrix(M, copy=True)  # the caller's matrix is left as it is
    if np.any(A.diagonal() != 0):
        warnings.warn("the adjacency matrix has a non-zero diagonal, which is ignored (a "
                      "self-loop adds nothing to sum_ab A_ab ||w_a - w_b||^2)." + hint,
                      UserWarning, stacklevel=3)
        A.setdiag(0.0)
        A.eliminate_zeros()
    if np.any(A.data < 0):
        raise ValueError("the adjacency matrix has negative weights; edge weights must be >= 0 "
                         "(a negative weight would make the penalty non-convex)." + hint)
    asym = (A - A.T).tocoo()
    if asym.nnz and np.any(np.abs(asym.data) > 1e-12 * np.abs(
            np.asarray(A.T.tocsr()[asym.row, asym.col]).ravel())):
        raise ValueError("the adjacency matrix must be symmetric: A[a, b] is the weight of the "
                         "edge {a, b}.")
    return _from_adjacency(A)


def _numeric_matrix(graph, graph_format):
    """``graph`` as a finite 2-D float64 matrix: sparse input stays sparse."""
    if sp.issparse(graph):
        M = sp.csr_matrix(graph, dtype=np.float64)
        values = M.data
    else:
        try:
            M = np.asarray(graph, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"graph_format={graph_format!r} needs a numeric matrix; got "
                             f"{type(graph).__name__} with non-numeric entries (an edge list of "
                             f"labels needs graph_format='edges' or 'auto').") from None
        values = M
    if M.ndim != 2:
        raise ValueError(f"graph must be a 2-D matrix or a list of edges; got an array of "
                         f"shape {M.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("graph contains NaN or infinite weights.")
    return M


def _from_adjacency(A):
    """``diag(A 1) - A`` for a symmetric sparse adjacency with a zero diagonal."""
    A = sp.csr_matrix(A)
    return sp.csr_array(sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A)


def _guess_format(graph, T):
    """An array (or a list of lists, or a sparse matrix) is a matrix; a sequence of
    tuples is an edge list (``graph_format`` says it explicitly when that is ambiguous)."""
    if sp.issparse(graph):
        return "adjacency" if graph.shape == (T, T) else "incidence"
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
    rows, cols, weights = [], [], []
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
            rows.append(i)
            cols.append(j)
            weights.append(w)
    if unknown:
        raise ValueError(f"graph names task labels that are not among the fitted tasks: "
                         f"{sorted(set(map(repr, unknown)))}; the tasks are "
                         f"{np.asarray(labels).tolist()[:20]}.")
    B = sp.coo_matrix((weights, (rows, cols)), shape=(T, T)).tocsr()  # repeated edges add up
    return _from_adjacency(B + B.T)


def _key(value):
    """Hashable key of a label: NumPy scalars as Python scalars."""
    return value.item() if isinstance(value, np.generic) else value
