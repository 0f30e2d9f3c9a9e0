"""L21Regressor against scikit-learn's MultiTaskLasso on shared designs, in one run.

Both solve the same objective (shared design, loss_scaling="mean",
ridge=0).  For each regime the reference optimum is the lower of the two
objectives after a very tight solve; each solver is then timed at a matched
tolerance until its relative suboptimality is below ``1e-6``, and the table
reports the ratio ``time(sklearn) / time(mtlreg)``.

Run: ``python -m benchmarks.bench_l21_vs_sklearn [--repeat N]``
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskLasso

from mtlreg import L21Regressor, alpha_max

# (n_samples, n_features, n_tasks, support size)
REGIMES = {
    "n>>d (n=20000, d=100, T=20)": (20000, 100, 20, 5),
    "d>>n (n=200, d=2000, T=20, 100 relevant)": (200, 2000, 20, 100),
    "d>>n sparse (n=200, d=10000, T=20, 20 relevant)": (200, 10000, 20, 20),
}


def _problem(n, d, T, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = np.zeros((d, T))
    support = rng.choice(d, size=k, replace=False)
    W[support] = rng.standard_normal((support.size, T))
    Y = X @ W + 0.5 * rng.standard_normal((n, T))
    return X, Y


def _objective(X, Y, coef, intercept, alpha):
    R = Y - X @ coef.T - intercept
    return 0.5 * np.sum(R * R) / X.shape[0] + alpha * np.sum(np.sqrt(np.sum(coef * coef, axis=0)))


def _time_to_target(make, X, Y, alpha, target, tols):
    """Smallest time over ``tols`` (loosest first) whose objective reaches ``target``."""
    for tol in tols:
        est = make(tol)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, Y)
        elapsed = time.perf_counter() - t0
        if _objective(X, Y, est.coef_, est.intercept_, alpha) <= target:
            return elapsed, tol
    return float("nan"), None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rel-subopt", type=float, default=1e-6)
    args = parser.parse_args(argv)
    rows = []
    for name, (n, d, T, k) in REGIMES.items():
        X, Y = _problem(n, d, T, k)
        alpha = 0.1 * alpha_max(X, Y)
        ours = L21Regressor(alpha=alpha, tol=1e-14, max_iter=100000).fit(X, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theirs = MultiTaskLasso(alpha=alpha, tol=1e-14, max_iter=100000).fit(X, Y)
        best = min(_objective(X, Y, e.coef_, e.intercept_, alpha) for e in (ours, theirs))
        target = best * (1 + args.rel_subopt)
        # warm-up (BLAS threads, imports) outside the timed fits
        L21Regressor(alpha=alpha, tol=1e-3).fit(X, Y)
        MultiTaskLasso(alpha=alpha, tol=1e-3).fit(X, Y)
        tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
        t_ours = min(_time_to_target(lambda tol: L21Regressor(alpha=alpha, tol=tol, max_iter=100000),
                                     X, Y, alpha, target, tols)[0] for _ in range(args.repeat))
        t_sk = min(_time_to_target(lambda tol: MultiTaskLasso(alpha=alpha, tol=tol, max_iter=100000),
                                   X, Y, alpha, target, tols)[0] for _ in range(args.repeat))
        rows.append((name, t_sk, t_ours, t_sk / t_ours))
    print(f"time to relative suboptimality {args.rel_subopt:g} (best of {args.repeat})\n")
    print("| regime | sklearn MultiTaskLasso (s) | mtlreg L21Regressor (s) | speed-up |")
    print("|---|---|---|---|")
    for name, t_sk, t_ours, ratio in rows:
        print(f"| {name} | {t_sk:.3f} | {t_ours:.3f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
