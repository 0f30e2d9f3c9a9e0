"""Checks behind docs/clustering.md: the MALSAR / RMTL mapping and their M step.

1. Mapping.  Each peer objective, written out as its source computes it (MALSAR
   ``Least_CMTL.m`` / ``Logistic_CMTL.m``, RMTL ``R/Cluster_penalty.R`` with the
   losses of ``R/utiles.R``), is minimized jointly over ``W``, the intercepts and
   ``M`` by CVXPY (an SDP: ``matrix_frac``).  The mtlreg estimator is fitted with
   the mapped parameters, and the peer objective is evaluated at its
   ``(coef_.T, intercept_, cluster_matrix_)``.  The relative difference to
   CVXPY's optimum must be below 1e-6.  A wrong mapping (MALSAR's least squares
   read without the 1/2, i.e. alpha = rho1 / 2, beta = rho2 / 2) is shown for
   contrast.

2. The hard-assignment identity and the gradient in M.  For M = E (E^T E)^-1 E^T
   (E a 0/1 cluster indicator), c tr(W (eta I + M)^-1 W^T) against alpha times the
   within-cluster sum of squares plus beta ||W||_F^2, and against alpha times the
   between-cluster sum of squares plus beta ||W||_F^2.  Then the directional derivative of tr(W (eta I + M)^-1 W^T)
   along a random symmetric direction, by central finite differences, against
   <D, G> for the symmetric gradient -(eta I + M)^-1 W^T W (eta I + M)^-1 and for
   the expression of MALSAR / RMTL, -W^T W (eta I + M)^-1 (eta I + M)^-1.

3. The peers' iterations.  A NumPy transcription of the accelerated projected
   gradient loop of MALSAR ``Least_CMTL`` (sum loss, no intercept, ``eig`` of the
   unsymmetric matrix, real parts kept) and of RMTL ``LS_CMTL`` (mean loss,
   intercepts, ``eigen(symmetric=TRUE)``, which reads the lower triangle), run
   (a) as written and (b) with only the M gradient replaced by the symmetric one.
   The table gives the peer objective at the returned (W, b, M) relative to
   mtlreg's optimum.  This is our transcription of their loops, not MALSAR or
   RMTL themselves (no MATLAB or R was available).

Run:  python examples/clustered_mapping_check.py     (needs cvxpy: pip install -e ".[test]";
      about 4 CPU-minutes, most of it in the 20,000-iteration loops of part 3)
"""

import warnings

import cvxpy as cp
import numpy as np

import mtlreg

TIGHT = dict(tol=1e-12, max_iter=200000)


def make_problem(seed, T=6, d=5, k=2):
    """Tasks drawn around k cluster centres, unequal sample sizes, offsets."""
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 45, T)
    centres = 2.0 * rng.standard_normal((d, k))
    labels = rng.permutation(np.arange(T) % k)
    W0 = centres[:, labels] + 0.3 * rng.standard_normal((d, T))
    Xs = [rng.standard_normal((m, d)) for m in n]
    ys = [Xs[t] @ W0[:, t] + 0.5 + 0.5 * rng.standard_normal(n[t]) for t in range(T)]
    signs = [np.where(y > np.median(y), 1.0, -1.0) for y in ys]
    return Xs, ys, signs


def penalty(W, M, alpha, beta):
    eta = beta / alpha
    c = alpha * eta * (1 + eta)
    return c * np.trace(W @ np.linalg.solve(eta * np.eye(M.shape[0]) + M, W.T))


# -- the peer objectives, as their source computes them ------------------------------
def sq_loss(Xs, ys, W, b, mean):
    return sum(0.5 * np.sum((ys[t] - Xs[t] @ W[:, t] - b[t]) ** 2) / (len(ys[t]) if mean else 1)
               for t in range(len(Xs)))


def log_loss(Xs, ys, W, b):
    return sum(np.mean(np.logaddexp(0.0, -ys[t] * (Xs[t] @ W[:, t] + b[t])))
               for t in range(len(Xs)))


def cvxpy_optimum(Xs, ys, alpha, beta, k, kind):
    T, d = len(Xs), Xs[0].shape[1]
    eta = beta / alpha
    c = alpha * eta * (1 + eta)
    W = cp.Variable((d, T))
    b = cp.Variable(T)
    M = cp.Variable((T, T), symmetric=True)
    if kind == "malsar_least":        # sum_t 0.5 ||y_t - X_t w_t||^2, no intercept
        loss = sum(0.5 * cp.sum_squares(ys[t] - Xs[t] @ W[:, t]) for t in range(T))
    elif kind == "rmtl_least":        # sum_t 0.5 mean_i (y_ti - x_ti w_t - c_t)^2
        loss = sum(0.5 / len(ys[t]) * cp.sum_squares(ys[t] - Xs[t] @ W[:, t] - b[t])
                   for t in range(T))
    else:                             # sum_t mean_i log(1 + exp(-y_ti (x_ti w_t + c_t)))
        loss = sum(cp.sum(cp.logistic(-cp.multiply(ys[t], Xs[t] @ W[:, t] + b[t]))) / len(ys[t])
                   for t in range(T))
    objective = loss + c * cp.matrix_frac(W.T, eta * np.eye(T) + M)
    constraints = [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == k]
    if kind == "malsar_least":
        constraints.append(b == 0)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver="CLARABEL")
    return problem.value, W.value


def check_mapping():
    Xs, ys, signs = make_problem(0)
    X, y, tasks = mtlreg.stack_tasks(Xs, ys)
    _, ysign, _ = mtlreg.stack_tasks(Xs, signs)
    k = 2
    rows = []
    cases = [
        # label, peer kind, (peer rho1, rho2), estimator, its parameters, data
        ("MALSAR Least_CMTL(rho1=20, rho2=2, k=2)", "malsar_least", (20.0, 2.0),
         mtlreg.ClusteredRegressor, dict(alpha=20.0, beta=2.0, loss_scaling="sum",
                                         fit_intercept=False), y, ys),
        ("  same, wrong mapping alpha=rho1/2, beta=rho2/2", "malsar_least", (20.0, 2.0),
         mtlreg.ClusteredRegressor, dict(alpha=10.0, beta=1.0, loss_scaling="sum",
                                         fit_intercept=False), y, ys),
        ("RMTL LS_CMTL(lam1=0.5, lam2=0.05, k=2)", "rmtl_least", (0.5, 0.05),
         mtlreg.ClusteredRegressor, dict(alpha=0.5, beta=0.05), y, ys),
        ("MALSAR Logistic_CMTL = RMTL LR_CMTL(0.05, 0.01, k=2)", "logistic", (0.05, 0.01),
         mtlreg.ClusteredClassifier, dict(alpha=0.05, beta=0.01), ysign, signs),
    ]
    for label, kind, (r1, r2), cls, params, target, target_list in cases:
        opt, W_cvx = cvxpy_optimum(Xs, target_list, r1, r2, k, kind)
        model = cls(n_clusters=k, **params, **TIGHT).fit(X, target, tasks=tasks)
        W, b, M = model.coef_.T, model.intercept_, model.cluster_matrix_
        if kind == "logistic":
            loss = log_loss(Xs, target_list, W, b)
        else:
            loss = sq_loss(Xs, target_list, W, b, mean=(kind == "rmtl_least"))
        value = loss + penalty(W, M, r1, r2)
        eig = np.linalg.eigvalsh(M)
        rows.append((label, opt, value, (value - opt) / opt, np.abs(W - W_cvx).max(),
                     f"{np.trace(M):.6f}", f"[{eig.min():.1e}, {eig.max():.6f}]"))
    print("1. Peer objective at the mtlreg solution vs CVXPY's optimum (CLARABEL)\n")
    print("| peer objective, mtlreg mapping | CVXPY optimum | at mtlreg's (W, b, M) | "
          "relative difference | max abs W difference | tr M | eigenvalues of M |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.10g} | {r[2]:.10g} | {r[3]:.1e} | {r[4]:.1e} | {r[5]} | {r[6]} |")


def check_gradient():
    rng = np.random.default_rng(1)
    d, T = 5, 7
    W = rng.standard_normal((d, T))
    alpha, beta = 0.7, 0.3
    eta = beta / alpha
    c = alpha * eta * (1 + eta)
    A = rng.standard_normal((T, T))
    M = 0.3 * np.eye(T) + 0.05 * (A + A.T)           # interior point, not aligned with W
    D = rng.standard_normal((T, T))
    D = D + D.T                                      # symmetric direction
    f = lambda M: c * np.trace(W @ np.linalg.inv(eta * np.eye(T) + M) @ W.T)
    h = 1e-6
    fd = (f(M + h * D) - f(M - h * D)) / (2 * h)
    Ai = np.linalg.inv(eta * np.eye(T) + M)
    sym = -c * Ai @ W.T @ W @ Ai
    peer = -c * W.T @ W @ Ai @ Ai
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    E = np.eye(3)[labels]
    P = E @ np.linalg.solve(E.T @ E, E.T)
    centres = W @ E @ np.linalg.inv(E.T @ E)                 # cluster means, d x 3
    within = np.sum((W - centres[:, labels]) ** 2)
    between = np.sum((centres[:, labels] - W.mean(axis=1, keepdims=True)) ** 2)
    print("\n2a. Hard assignment (7 tasks in clusters of 2, 3, 2), alpha=0.7, beta=0.3\n")
    print(f"c tr(W (eta I + M)^-1 W^T)            = {penalty(W, P, alpha, beta):.12f}")
    print(f"alpha * within + beta * ||W||_F^2     = {alpha * within + beta * np.sum(W ** 2):.12f}")
    print(f"alpha * between + beta * ||W||_F^2    = {alpha * between + beta * np.sum(W ** 2):.12f}")
    print("\n2b. Derivative of the term along a symmetric direction D\n")
    print(f"finite differences: {fd:.8f}")
    print(f"<D, -c A^-1 W'W A^-1> (symmetric): {np.sum(D * sym):.8f}  "
          f"(relative error {abs(np.sum(D * sym) - fd) / abs(fd):.1e})")
    print(f"<D, -c W'W A^-1 A^-1> (MALSAR/RMTL): {np.sum(D * peer):.8f}  "
          f"(relative error {abs(np.sum(D * peer) - fd) / abs(fd):.1e}; "
          f"max |G - G'| / max |G| = {np.abs(peer - peer.T).max() / np.abs(peer).max():.2f})")


# -- transcription of the peers' accelerated projected-gradient loops ---------------------
def capped_simplex(a, k):
    """Projection of a vector onto {0 <= x <= 1, sum x = k} (the problem of bsa_ihb)."""
    lo, hi = a.min() - 2.0, a.max() + 2.0
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if np.clip(a - mid, 0.0, 1.0).sum() > k:
            lo = mid
        else:
            hi = mid
    return np.clip(a - hi, 0.0, 1.0)


def peer_loop(Xs, ys, lam1, lam2, k, peer, symmetric_gradient, tol, max_iter):
    """peer="malsar": Least_CMTL (sum loss, no intercept, eig + real parts, relative
    stop); peer="rmtl": LS_CMTL (mean loss, intercepts, lower-triangle eigen,
    absolute stop).  Both start from W = 0, b = 0, M = k/T I."""
    T, d = len(Xs), Xs[0].shape[1]
    eta = lam2 / lam1
    c = lam1 * eta * (1 + eta)
    mean = peer == "rmtl"
    scale = [1.0 / len(y) if mean else 1.0 for y in ys]

    def loss_grad(W, b):
        res = [Xs[t] @ W[:, t] + b[t] - ys[t] for t in range(T)]
        gW = np.stack([scale[t] * Xs[t].T @ res[t] for t in range(T)], 1)
        gb = np.array([scale[t] * res[t].sum() for t in range(T)]) if mean else np.zeros(T)
        return sum(0.5 * scale[t] * res[t] @ res[t] for t in range(T)), gW, gb

    def project(A):
        if peer == "malsar":                          # eig of the matrix as given, real parts
            lam, U = np.linalg.eig(A)
            lam, U = lam.real, U.real
        else:                                         # R eigen(symmetric=TRUE): lower triangle
            lam, U = np.linalg.eigh(A, UPLO="L")
        m = capped_simplex(lam, k)
        return (U * m) @ U.T, U, m

    Wz = Wz_old = np.zeros((d, T))
    bz = bz_old = np.zeros(T)
    Mz = Mz_old = np.eye(T) * k / T
    t, t_old, gamma, values, it = 1.0, 0.0, 1.0, [], 0
    while it < max_iter:
        a = (t_old - 1) / t
        Ws, bs, Ms = ((1 + a) * Z - a * Z_old for Z, Z_old in
                      ((Wz, Wz_old), (bz, bz_old), (Mz, Mz_old)))
        Ai = np.linalg.inv(eta * np.eye(T) + Ms)
        f, gW, gb = loss_grad(Ws, bs)
        Fs = f + c * np.trace(Ws @ Ai @ Ws.T)
        gW = gW + 2 * c * Ws @ Ai.T
        gM = -c * (Ai @ Ws.T @ Ws @ Ai if symmetric_gradient else Ws.T @ Ws @ Ai @ Ai)
        stalled = False
        while True:
            Wp, bp = Ws - gW / gamma, (bs - gb / gamma if mean else bs)
            Mp, U, m = project(Ms - gM / gamma)
            Fp = loss_grad(Wp, bp)[0] + c * np.trace(Wp @ (U / (eta + m)) @ U.T @ Wp.T)
            dW, db, dM = Wp - Ws, bp - bs, Mp - Ms
            r = (np.sum(dW ** 2) + np.sum(db ** 2) + np.sum(dM ** 2)) / 2
            if r <= (1e-20 if mean else np.finfo(float).eps):
                stalled = True
                break
            if Fp <= Fs + np.sum(dW * gW) + np.sum(db * gb) + np.sum(dM * gM) + gamma * r:
                break
            gamma *= 2
        Wz_old, Wz, bz_old, bz, Mz_old, Mz = Wz, Wp, bz, bp, Mz, Mp
        values.append(Fp)
        if stalled:
            break
        if it >= 2:
            change = abs(values[-1] - values[-2])
            if change <= (tol if mean else tol * values[-2]):
                break
        it += 1
        t_old, t = t, 0.5 * (1 + np.sqrt(1 + 4 * t * t))
    return Wp, bp, Mp, it + 1, stalled


def check_peer_loops(seeds=range(5)):
    print("\n3. Transcribed peer loops: (peer objective at returned (W, b, M) - optimum) / optimum\n")
    settings = [("MALSAR Least_CMTL", "malsar", 20.0, 2.0, 1e-4, 1000),
                ("MALSAR Least_CMTL", "malsar", 20.0, 2.0, 0.0, 20000),
                ("RMTL LS_CMTL", "rmtl", 0.5, 0.05, 1e-3, 1000),
                ("RMTL LS_CMTL", "rmtl", 0.5, 0.05, 0.0, 20000)]
    print("| loop | tol, max iterations | M gradient | " +
          " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|---|---|" + "---|" * len(seeds))
    for name, peer, lam1, lam2, tol, max_iter in settings:
        for symmetric in (False, True):
            cells = []
            for seed in seeds:
                Xs, ys, _ = make_problem(seed, T=8, d=6)
                X, y, tasks = mtlreg.stack_tasks(Xs, ys)
                mean = peer == "rmtl"
                params = {} if mean else dict(loss_scaling="sum", fit_intercept=False)
                ours = mtlreg.ClusteredRegressor(alpha=lam1, beta=lam2, n_clusters=2, **params,
                                                 **TIGHT).fit(X, y, tasks=tasks)
                W, b, M, n_it, stalled = peer_loop(Xs, ys, lam1, lam2, 2, peer, symmetric,
                                                   tol, max_iter)
                value = sq_loss(Xs, ys, W, b, mean) + penalty(W, M, lam1, lam2)
                cells.append(f"{(value - ours.objective_) / ours.objective_:.1e} "
                             f"({n_it}{', small step' if stalled else ''})")
            grad = "symmetric (fixed)" if symmetric else "as written"
            print(f"| {name} | {tol:g}, {max_iter} | {grad} | " + " | ".join(cells) + " |")
    print("\n(in parentheses: iterations run; 'small step' = stopped by the peer's test "
          "that half the squared step (W, b and M together) is below eps (MALSAR) or 1e-20 "
          "(RMTL); otherwise "
          "by the change of the objective or by the iteration limit)")


if __name__ == "__main__":
    warnings.simplefilter("ignore", UserWarning)
    check_mapping()
    check_gradient()
    check_peer_loops()
