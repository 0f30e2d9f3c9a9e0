"""MALSAR's solver scheme for the decomposed models, re-implemented in NumPy.

The reference point of the ``convergence`` suite: what a user porting from
MALSAR (Zhou, Chen & Ye, 2011-2012; ``Least_Dirty.m``, ``robust/Least_RMTL.m``,
``rMTFL/Least_rMTFL.m``) would get.  Written from a reading of those files,
not translated line by line; the scheme, for the objective MALSAR minimizes,

    f(P, Q) = sum_t ||X_t (p_t + q_t) - y_t||^2  +  lam1 * h1(P)  +  lam2 * h2(Q)

(a *sum* of squared errors, no factor 1/2, no intercept; ``P`` and ``Q`` are
``n_features x n_tasks``), is:

* accelerated proximal gradient on the stacked ``(P, Q)`` -- both parts take
  the same gradient ``2 (X_t^T X_t w_t - X_t^T y_t)`` at the search point and
  their own prox with step ``1/L`` -- with the momentum sequence
  ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2`` and **no restart**;
* a backtracking line search that only ever **doubles** ``L`` (it is never
  decreased), and

  - Dirty and rMTFL: starts from MALSAR's lower bound of the Hessian's
    largest eigenvalue on the block-diagonal design ``X`` (``N x dT``),
    ``L0 = 2 max(max_col_abs_sum(X)^2 / N, max_row_abs_sum(X)^2 / (d T))``;
    accepts when ``2 ||X (dP + dQ)||^2 <= L (||dP||^2 + ||dQ||^2)`` (exact for a
    quadratic); at most 20 trials per iteration (after the 20th failure the
    20th trial point is kept and ``L`` doubled once more, as MALSAR does);
  - RMTL: starts from ``gamma = 1`` and accepts when
    ``f(new) <= f(search) + <grad, new - search> + gamma/2 ||new - search||^2``
    (sums over both parts), doubling ``gamma`` without limit;

* stopping rule (MALSAR's default ``tFlag = 1``): after iteration ``k >= 2``,
  ``|f_k - f_{k-1}| <= tol * f_{k-1}`` with ``f_k`` the objective at the
  iterate; MALSAR's defaults (``utils/init_opts.m``) are ``tol = 1e-4`` and
  ``maxIter = 1000``.

Penalties: Dirty ``h1 = sum_j ||P_j,:||_inf`` (prox: the residual of the
projection of each row onto the L1 ball of radius ``lam1/L``; MALSAR calls a
C routine for it), ``h2 = ||Q||_1``; RMTL ``h1 = ||P||_*`` (singular value
thresholding), ``h2 = sum_t ||Q_:,t||_2``; rMTFL ``h1 = sum_j ||P_j,:||_2``,
``h2 = sum_t ||Q_:,t||_2``.

The per-task products use the Gram matrices ``X_t^T X_t`` (MALSAR forms
``X^T X`` of the block-diagonal design for Dirty and rMTFL: the same numbers);
the objective is evaluated every iteration, as MALSAR does (its ``funcVal``).
:func:`solve` records ``f_k`` and the wall time of every iteration, so one
run answers both "when would MALSAR's rule have stopped, for any ``tol``" and
"when did the objective first come within ``1e-6`` of the optimum".
"""

import time

import numpy as np

__all__ = ["MODELS", "TaskGram", "objective", "solve", "stop_iteration"]

# model: (first-part penalty, second-part penalty, line-search flavour)
MODELS = {
    "dirty": ("l1inf", "l1", "quadratic"),
    "rmtl": ("trace", "task_l2", "sufficient_decrease"),
    "rmtfl": ("l21", "task_l2", "quadratic"),
}


class TaskGram:
    """Per-task ``X_t^T X_t``, ``X_t^T y_t``, ``y_t^T y_t`` of long-format data
    (``tasks`` integer labels ``0..T-1``), and MALSAR's initial ``L``."""

    def __init__(self, X, y, tasks):
        T = int(tasks.max()) + 1
        d = X.shape[1]
        self.G = np.zeros((T, d, d))
        self.q = np.zeros((d, T))
        self.yy = 0.0
        for t in range(T):
            m = tasks == t
            self.G[t] = X[m].T @ X[m]
            self.q[:, t] = X[m].T @ y[m]
            self.yy += float(y[m] @ y[m])
        self.n_features, self.n_tasks = d, T
        # bounds of the block-diagonal design (N x dT): max column / row abs sums
        col = np.zeros(T * d)
        for t in range(T):
            col[t * d:(t + 1) * d] = np.abs(X[tasks == t]).sum(axis=0)
        row = np.abs(X).sum(axis=1)
        N = X.shape[0]
        self.malsar_L0 = 2.0 * max(col.max() ** 2 / N, row.max() ** 2 / (d * T))

    def XtX(self, W):
        """``X_t^T X_t w_t`` for every column ``w_t`` of ``W`` (d x T)."""
        # batched matmul: 3x faster than the equivalent einsum here
        return np.matmul(self.G, W.T[:, :, None])[:, :, 0].T

    def loss(self, W, GW=None):
        """``sum_t ||X_t w_t - y_t||^2`` (Gram form)."""
        GW = self.XtX(W) if GW is None else GW
        return float(np.sum(W * GW) - 2.0 * np.sum(W * self.q) + self.yy)


# -- penalties and their proxes ---------------------------------------------------------------
def _value(name, M):
    if name == "l1":
        return float(np.abs(M).sum())
    if name == "l1inf":
        return float(np.abs(M).max(axis=1).sum())
    if name == "l21":
        return float(np.sqrt((M * M).sum(axis=1)).sum())
    if name == "task_l2":
        return float(np.sqrt((M * M).sum(axis=0)).sum())
    if name == "trace":
        return float(np.linalg.svd(M, compute_uv=False).sum())
    raise ValueError(name)


def _shrink(M, tau, axis):
    norms = np.sqrt((M * M).sum(axis=axis, keepdims=True))
    return M * np.maximum(0.0, 1.0 - tau / np.maximum(norms, 1e-300))


def _prox_l1inf(M, tau):
    """Row-wise prox of ``tau ||.||_inf``: each row minus its projection onto the
    L1 ball of radius ``tau`` (sort-based projection)."""
    A = np.abs(M)
    inside = A.sum(axis=1) <= tau
    U = -np.sort(-A, axis=1)
    css = np.cumsum(U, axis=1) - tau
    k = np.arange(1, M.shape[1] + 1)
    rho = np.sum(U * k > css, axis=1)            # number of entries kept, >= 1 outside
    theta = css[np.arange(M.shape[0]), np.maximum(rho, 1) - 1] / np.maximum(rho, 1)
    # prox = M - proj = sign(M) * min(|M|, theta); zero for rows inside the ball
    out = np.sign(M) * np.minimum(A, theta[:, None])
    out[inside] = 0.0
    return out


def _prox(name, M, tau):
    if name == "l1":
        return np.sign(M) * np.maximum(np.abs(M) - tau, 0.0)
    if name == "l1inf":
        return _prox_l1inf(M, tau)
    if name == "l21":
        return _shrink(M, tau, axis=1)
    if name == "task_l2":
        return _shrink(M, tau, axis=0)
    if name == "trace":
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
        return (U * np.maximum(s - tau, 0.0)) @ Vt
    raise ValueError(name)


def objective(model, gram, P, Q, lam1, lam2):
    """MALSAR's objective at ``(P, Q)`` (Gram form of the loss)."""
    h1, h2, _ = MODELS[model]
    return gram.loss(P + Q) + lam1 * _value(h1, P) + lam2 * _value(h2, Q)


# -- the solver ------------------------------------------------------------------------------------
def solve(model, gram, lam1, lam2, *, max_iter=1000, tol=None, t_start=None, done=None,
          check_every=50):
    """Run MALSAR's scheme from ``P = Q = 0``.

    ``tol=None`` runs ``max_iter`` iterations (to study every tolerance after
    the fact with :func:`stop_iteration`); a number stops by MALSAR's rule.
    ``t_start`` (``time.perf_counter()`` value) is the origin of the recorded
    times (default: the call), so set-up done by the caller can be counted.
    ``done(f)``, called every ``check_every`` iterations on the objectives so
    far, ends the run early when it returns True (a benchmark's "I have seen
    enough"; not part of MALSAR's scheme).

    Returns a dict: ``P``, ``Q`` (last iterate), ``f`` (``f_1 .. f_K``, the
    objective after each iteration), ``seconds`` (elapsed time after each
    iteration), ``L`` (final), ``n_trials`` (line-search trials in all).
    """
    h1, h2, search = MODELS[model]
    t0 = time.perf_counter() if t_start is None else t_start
    d, T = gram.n_features, gram.n_tasks
    P = np.zeros((d, T))
    Q = np.zeros((d, T))
    P_old, Q_old = P, Q
    L = gram.malsar_L0 if search == "quadratic" else 1.0
    t_old, t_cur = 0.0, 1.0      # RMTL's (t_{i-2}, t_{i-1}); Dirty/rMTFL use t_cur only
    fs, secs = [], []
    n_trials = 0
    for k in range(1, max_iter + 1):
        if search == "quadratic":
            # Least_Dirty / Least_rMTFL: search point from the previous update
            beta = (t_old - 1.0) / t_cur if k > 1 else 0.0
        else:
            # Least_RMTL: alpha_i = (t_{i-2} - 1) / t_{i-1}; its first value (-1)
            # multiplies a zero difference from the zero start
            beta = (t_old - 1.0) / t_cur
        Ps = P + beta * (P - P_old)
        Qs = Q + beta * (Q - Q_old)
        GWs = gram.XtX(Ps + Qs)
        grad = 2.0 * (GWs - gram.q)
        if search == "quadratic":
            for _ in range(20):
                n_trials += 1
                P_new = _prox(h1, Ps - grad / L, lam1 / L)
                Q_new = _prox(h2, Qs - grad / L, lam2 / L)
                dP, dQ = P_new - Ps, Q_new - Qs
                D = dP + dQ
                if 2.0 * np.sum(D * gram.XtX(D)) <= L * (np.sum(dP * dP) + np.sum(dQ * dQ)):
                    break
                L *= 2.0
            f = objective(model, gram, P_new, Q_new, lam1, lam2)
        else:
            f_search = gram.loss(Ps + Qs, GWs)
            while True:
                n_trials += 1
                P_new = _prox(h1, Ps - grad / L, lam1 / L)
                Q_new = _prox(h2, Qs - grad / L, lam2 / L)
                dP, dQ = P_new - Ps, Q_new - Qs
                f_new = gram.loss(P_new + Q_new)
                bound = (f_search + np.sum(dP * grad) + np.sum(dQ * grad)
                         + 0.5 * L * (np.sum(dP * dP) + np.sum(dQ * dQ)))
                if f_new <= bound:
                    break
                L *= 2.0
            f = f_new + lam1 * _value(h1, P_new) + lam2 * _value(h2, Q_new)
        fs.append(f)
        secs.append(time.perf_counter() - t0)
        P_old, Q_old, P, Q = P, Q, P_new, Q_new
        if search == "quadratic":
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_cur * t_cur))
            t_old, t_cur = t_cur, t_next
        else:
            t_old, t_cur = t_cur, 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_cur * t_cur))
        if tol is not None and k >= 2 and abs(fs[-1] - fs[-2]) <= tol * fs[-2]:
            break
        if done is not None and k % check_every == 0 and done(fs):
            break
    return {"P": P, "Q": Q, "f": np.asarray(fs), "seconds": np.asarray(secs), "L": L,
            "n_trials": n_trials}


def stop_iteration(f, tol):
    """The iteration (1-based) at which MALSAR's rule ``|f_k - f_{k-1}| <= tol f_{k-1}``
    (``k >= 2``) stops on the recorded objectives ``f``; ``None`` if it never does."""
    f = np.asarray(f)
    if f.size < 2:
        return None
    hit = np.flatnonzero(np.abs(np.diff(f)) <= tol * f[:-1])
    return int(hit[0]) + 2 if hit.size else None
