"""Loaders of the bundled real data sets.

The ``.npz`` files were converted from the sources named in each
``<name>.PROVENANCE.txt`` (kept verbatim in ``DESCR``).
"""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_CITATIONS = {
    "school": "Goldstein (1991), Multilevel modelling of survey data; splits of Argyriou, "
              "Evgeniou & Pontil, Convex multi-task feature learning, Machine Learning 2008.",
    "landmine": "Xue, Liao, Carin & Krishnapuram, Multi-task learning for classification with "
                "Dirichlet process priors, JMLR 2007.",
    "parkinsons": "Tsanas, Little, McSharry & Ramig, Accurate telemonitoring of Parkinson's "
                  "disease progression by non-invasive speech tests, IEEE TBME 2009.",
    "computer": "Lenk, DeSarbo, Green & Young, Hierarchical Bayes conjoint analysis, "
                "Marketing Science 1996.",
}


def _open(name):
    root = resources.files(__package__) / "data"
    with resources.as_file(root / f"{name}.npz") as path:
        arrays = dict(np.load(path, allow_pickle=False))
    descr = (root / f"{name}.PROVENANCE.txt").read_text(encoding="utf-8")
    return arrays, f"{descr}\nCITATION\n- {_CITATIONS[name]}\n"


def load_school():
    """ILEA School exam scores: 139 tasks (schools), 15,362 students, 27 features + bias.

    Returns
    -------
    Bunch
        ``X`` (15362, 28; column 28 is the constant bias), ``y`` exam score,
        ``tasks`` school index 0..138, ``feature_names``, ``splits``: the 10
        train/test splits of Argyriou et al. as a list of ``(train_idx,
        test_idx)``, ``DESCR``.
    """
    a, descr = _open("school")
    splits = [(a[f"train_idx_argyriou_{i}"], a[f"test_idx_argyriou_{i}"]) for i in range(1, 11)]
    return Bunch(X=a["X"].astype(np.float64), y=a["y"].astype(np.float64), tasks=a["task"],
                 feature_names=a["feature_names"].tolist(), splits=splits, DESCR=descr)


def load_landmine():
    """Landmine detection: 29 tasks (mine fields), 14,820 samples, 9 features, labels {0, 1}."""
    a, descr = _open("landmine")
    return Bunch(X=a["X"].astype(np.float64), y=a["y"].astype(np.int64), tasks=a["task"],
                 feature_names=a["feature_names"].tolist(), splits=None, DESCR=descr)


def load_parkinsons(target="motor_UPDRS"):
    """Parkinson's telemonitoring: 42 tasks (patients), 5,875 recordings, 19 features.

    Parameters
    ----------
    target : {"motor_UPDRS", "total_UPDRS", "both"}
        Which UPDRS score is ``y``; ``"both"`` gives a (5875, 2) array.
    """
    a, descr = _open("parkinsons")
    names = a["target_names"].tolist()
    if target == "both":
        y = a["y"].astype(np.float64)
    elif target in names:
        y = a["y"][:, names.index(target)].astype(np.float64)
    else:
        raise ValueError(f"target must be one of {names + ['both']}, got {target!r}.")
    return Bunch(X=a["X"].astype(np.float64), y=y, tasks=a["task"],
                 feature_names=a["feature_names"].tolist(), target_names=names, splits=None,
                 DESCR=descr)


def load_computer():
    """Computer survey conjoint ratings: 190 tasks (respondents) x 20 profiles, 13 attributes + constant.

    ``splits`` holds one split: profiles 1-16 train, 17-20 test (the
    calibration / validation profiles of the survey).
    """
    a, descr = _open("computer")
    validation = np.tile(a["profile_is_validation"], a["ratings"].shape[0])
    idx = np.arange(a["X"].shape[0])
    return Bunch(X=a["X"].astype(np.float64), y=a["y"].astype(np.float64), tasks=a["task"],
                 feature_names=a["feature_names"].tolist(),
                 splits=[(idx[~validation], idx[validation])], DESCR=descr)
