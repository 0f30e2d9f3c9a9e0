"""GraphClassifier on Landmine: the certified stop of the task-graph classifier.

For raw and standardized Landmine features (29 tasks, 9 features), ``alpha`` from 1e-4 to 1
and ``beta`` 0 or 1e-3 (the complete graph, ``ridge=0``, defaults otherwise), prints the
stopping criterion, whether the fit converged, ``dual_gap_ / objective_``, ``n_iter_`` and
the fit time (one fit each, one BLAS thread).  Behind the figures of docs/relation.md.

Run:  python examples/graph_landmine.py
"""

import time
import warnings

from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mtlreg import GraphClassifier
from mtlreg.datasets import load_landmine


def main():
    data = load_landmine()
    versions = (("raw", data.X), ("standardized", StandardScaler().fit_transform(data.X)))
    print("| features | alpha | beta | criterion | converged | gap / objective | n_iter_ | s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, X in versions:
        for alpha in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
            for beta in (0.0, 1e-3):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    est = GraphClassifier(alpha=alpha, beta=beta).fit(X, data.y, tasks=data.tasks)
                    seconds = time.perf_counter() - t0
                s = est.solution_
                print(f"| {label} | {alpha:g} | {beta:g} | {s.criterion_name} | {est.converged_} | "
                      f"{est.dual_gap_ / est.objective_:.1e} | {est.n_iter_} | {seconds:.2f} |")


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
