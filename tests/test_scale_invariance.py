"""Feature scale: every classifier solves the same problem at feature scales 2^-27 .. 2^27.

Scaling the features by ``s`` and the penalty strengths by the power of ``s`` that each term
is homogeneous of (``s`` for a norm, ``s^2`` for a squared norm, the graph quadratic, the
cASO / clustering term and the ridge) leaves the problem the same one: ``W -> W / s`` maps
the optima onto each other and the optimal objective is unchanged.  With ``s`` a power of
two the scaled data are exact, so the two objectives differ only by rounding.  Before the
intercept got its own scale (``mtlreg.losses.intercept_scale_for``) every classifier stopped
at ``max_iter`` at ``s = 1e-8`` (the coefficients and the free intercepts share one step size
and the intercepts' curvature does not scale with the features'), and all but the graph
model at ``s = 1e8``.

Reference: the same estimator at ``s = 1``; both fits certify their gaps, so their
objectives lie within their gaps of one optimum (``certificates.assert_same_optimum``).
"""

import pytest

import mtlreg

from certificates import assert_same_optimum
from problems import classification_tasks

SCALES = (2.0 ** -27, 2.0 ** 27)  # about 7.5e-9 and 1.3e8
# the penalty strengths of a squared term (power 2); the others are norms (power 1)
SQUARED = {"MTFL": ("alpha",), "Relation": ("alpha",), "CASO": ("alpha", "beta"),
           "Clustered": ("alpha", "beta"), "Graph": ("alpha",),
           "MeanRegularized": ("alpha", "beta"), "TGL": ("beta",)}
CLASSIFIERS = [name for name in mtlreg.__all__ if name.endswith("Classifier")]


def _scaled_params(name, est, s):
    family = name[:-len("Classifier")]
    params = {}
    for key in ("alpha", "beta", "ridge"):
        if key not in est.get_params():
            continue
        power = 2 if key == "ridge" or key in SQUARED.get(family, ()) else 1
        params[key] = est.get_params()[key] * s ** power
    return params


@pytest.mark.parametrize("s", SCALES, ids=["2^-27", "2^27"])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_solves_the_same_problem_at_any_feature_scale(name, s):
    X, y, tasks = mtlreg.stack_tasks(*classification_tasks(3, (40, 30, 50), 5))
    Est = getattr(mtlreg, name)
    base = Est(tol=1e-8, max_iter=20000)
    if "Graph" in name:
        base.set_params(ridge=0.01)  # the graph leaves the mean model free: keep it bounded
    ref = base.fit(X, y, tasks=tasks)
    scaled = Est(**{**base.get_params(), **_scaled_params(name, base, s)}).fit(
        X * s, y, tasks=tasks)
    assert ref.converged_ and scaled.converged_
    assert_same_optimum(scaled.objective_, scaled.dual_gap_, ref.objective_, ref.dual_gap_)
