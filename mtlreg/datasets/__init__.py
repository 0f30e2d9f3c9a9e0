"""Bundled real multi-task data sets (loaded offline from package data).

Each loader returns a :class:`sklearn.utils.Bunch` with ``X``, ``y``, ``tasks``
(one label per sample, long format), ``feature_names``, ``DESCR`` (source,
provenance and citation) and, where the literature fixes them, ``splits``.
"""

from ._real import load_computer, load_landmine, load_parkinsons, load_school

__all__ = ["load_school", "load_landmine", "load_parkinsons", "load_computer"]
