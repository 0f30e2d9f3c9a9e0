"""Multi-task data sets: bundled real data (loaded offline from package data)
and synthetic generators with a planted structure.

Each loader returns a :class:`sklearn.utils.Bunch` with ``X``, ``y``, ``tasks``
(one label per sample, long format), ``feature_names``, ``DESCR`` (source,
provenance and citation) and, where the literature fixes them, ``splits``.
Each generator returns a :class:`~sklearn.utils.Bunch` with the long-format
data and the true ``coef`` (``W.T``), ``intercept`` and structure labels.
"""

from ._real import load_computer, load_landmine, load_parkinsons, load_school
from ._synthetic import make_multitask_classification, make_multitask_regression

__all__ = ["load_school", "load_landmine", "load_parkinsons", "load_computer",
           "make_multitask_regression", "make_multitask_classification"]
