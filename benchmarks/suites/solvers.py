"""Solver robustness on raw data: does every estimator converge with its defaults?

Two parts, every fit with single-threaded BLAS and each estimator's default parameters
(``tol=1e-6``, ``max_iter=5000``):

* ``defaults``: every regressor on raw School (the 28 features as loaded, scales 0.07
  to 15, a constant column included; :func:`mtlreg.datasets.load_school`) and every
  classifier on raw Landmine and on Landmine's standardized features scaled by ``2^-27``
  and ``2^27`` with the penalty strengths rescaled so that the problem is the same one
  (a norm's strength times the scale, a squared term's and the ridge times its square).
  Metrics: ``converged`` (1 or 0), ``n_iter``, ``seconds`` (one fit), ``rel_gap``
  (``dual_gap_ / objective_``).
* ``admm-vs-fista``: the squared-loss estimators whose default solver is ADMM (the Gram
  path: Lasso, L21, Trace, SparseTrace, Dirty, Robust, RMTFL with no smooth term, and
  Graph with ``beta = 0``, whose graph quadratic ADMM splits from the loss) on raw and
  standardized School, solved by ADMM and by FISTA (``solver_inputs`` with
  ``Objective.solver`` set), each to ``tol=1e-6`` with ``max_iter=20000``.  Metrics:
  ``seconds`` (best of 3), ``n_iter``, ``converged`` and, on the ADMM row,
  ``speedup = seconds(FISTA) / seconds(ADMM)`` measured in the same case.
"""

import time
import warnings
from dataclasses import replace

import numpy as np

from .._api import Case

DESCRIPTION = ("Every estimator with its defaults on raw School / Landmine and classifiers at "
               "feature scales 2^-27 and 2^27; ADMM against FISTA on the Gram path")

SQUARED_PARAMS = {"MTFL": ("alpha",), "Relation": ("alpha",), "CASO": ("alpha", "beta"),
                  "Clustered": ("alpha", "beta"), "Graph": ("alpha",),
                  "MeanRegularized": ("alpha", "beta"), "TGL": ("beta",)}
ADMM_MODELS = ("LassoRegressor", "L21Regressor", "TraceRegressor", "SparseTraceRegressor",
               "DirtyRegressor", "RobustRegressor", "RMTFLRegressor", "GraphRegressor")


def _single_thread(fn):
    from threadpoolctl import threadpool_limits

    def run():
        with threadpool_limits(1):
            return fn()
    return run


def _scaled(name, est, s):
    family = name[:-len("Classifier")] if name.endswith("Classifier") else name
    out = {}
    for key in ("alpha", "beta", "ridge"):
        if key in est.get_params():
            power = 2 if key == "ridge" or key in SQUARED_PARAMS.get(family, ()) else 1
            out[key] = est.get_params()[key] * s ** power
    return out


def _fit_defaults(name, X, y, tasks, scale=1.0):
    import mtlreg

    def run():
        Est = getattr(mtlreg, name)
        base = Est()
        est = Est(**_scaled(name, base, scale)) if scale != 1.0 else base
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X * scale, y, tasks=tasks)
            seconds = time.perf_counter() - t0
        gap = est.dual_gap_ if est.dual_gap_ is not None else float("nan")
        return {"converged": float(est.converged_), "n_iter": float(est.n_iter_),
                "seconds": seconds, "rel_gap": gap / abs(est.objective_)}
    return _single_thread(run)


def _race(name, X, y, tasks):
    import mtlreg
    from mtlreg.problem import solver_inputs
    from mtlreg.solvers import admm, fista

    def run():
        est = getattr(mtlreg, name)()
        problem = est.prepare(X, y, tasks)
        objective = est.get_objective(problem)
        out = {}
        for label, solver, key in (("fista", fista, "fista"), ("admm", admm, "admm")):
            inputs = solver_inputs(problem, replace(objective, solver=key))
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                result = solver(*inputs, tol=1e-6, max_iter=20000)
                best = min(best, time.perf_counter() - t0)
            out[label] = (best, result)
        seconds, result = out["admm"]
        return {"seconds": seconds, "n_iter": float(result.n_iter),
                "converged": float(result.converged),
                "fista_seconds": out["fista"][0], "fista_n_iter": float(out["fista"][1].n_iter),
                "fista_converged": float(out["fista"][1].converged),
                "speedup": out["fista"][0] / seconds}
    return _single_thread(run)


def cases(ctx):
    import mtlreg
    from mtlreg.datasets import load_landmine, load_school
    from sklearn.preprocessing import StandardScaler

    school, landmine = load_school(), load_landmine()
    std = StandardScaler().fit_transform(landmine.X)
    for name in mtlreg.__all__:
        if name.endswith("Regressor"):
            yield Case("raw School", name, _fit_defaults(name, school.X, school.y, school.tasks),
                       {"part": "defaults"})
        elif name.endswith("Classifier"):
            yield Case("raw Landmine", name,
                       _fit_defaults(name, landmine.X, landmine.y, landmine.tasks),
                       {"part": "defaults"})
            for label, s in (("2^-27", 2.0 ** -27), ("2^27", 2.0 ** 27)):
                yield Case(f"Landmine standardized x {label}", name,
                           _fit_defaults(name, std, landmine.y, landmine.tasks, s),
                           {"part": "defaults"})
    school_std = StandardScaler().fit_transform(school.X)
    for label, X in (("raw School", school.X), ("standardized School", school_std)):
        for name in ADMM_MODELS:
            yield Case(f"{label} (ADMM vs FISTA)", name,
                       _race(name, X, school.y, school.tasks), {"part": "admm-vs-fista"})
