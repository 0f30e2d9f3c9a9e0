"""mtlreg: regularized multi-task learning with scikit-learn estimators.

Estimators of the feature-learning family:

* :class:`LassoRegressor` / :class:`LassoClassifier` -- independent L1 (baseline)
* :class:`L21Regressor` / :class:`L21Classifier` -- joint feature selection
* :class:`MTFLRegressor` / :class:`MTFLClassifier` -- convex multi-task feature learning

Low-rank family:

* :class:`TraceRegressor` / :class:`TraceClassifier` -- trace (nuclear) norm
* :class:`SparseTraceRegressor` / :class:`SparseTraceClassifier` -- sparse + low rank
* :class:`CASORegressor` / :class:`CASOClassifier` -- convex alternating structure optimization

Task-clustering family:

* :class:`ClusteredRegressor` / :class:`ClusteredClassifier` -- convex clustered MTL

Task-relation family:

* :class:`RelationRegressor` / :class:`RelationClassifier` -- learned task covariance (MTRL)
* :class:`GraphRegressor` / :class:`GraphClassifier` -- known task graph (graph Laplacian)
* :class:`MeanRegularizedRegressor` / :class:`MeanRegularizedClassifier` -- shared model plus
  task deviations (Evgeniou & Pontil)

Disease progression (tasks are time points):

* :class:`TGLRegressor` / :class:`TGLClassifier` -- temporal group lasso (MALSAR's TGL)

Decomposition family (``W = P + Q``):

* :class:`DirtyRegressor` / :class:`DirtyClassifier` -- block-sparse + sparse (dirty model)
* :class:`RobustRegressor` / :class:`RobustClassifier` -- low rank + outlier tasks
* :class:`RMTFLRegressor` / :class:`RMTFLClassifier` -- joint features + outlier tasks

Data helpers: :func:`stack_tasks`; :func:`alpha_max`.  Model selection
(warm-started paths, task-stratified splitters, :class:`MultiTaskCV`):
:mod:`mtlreg.model_selection`; task-aware metrics and scorers:
:mod:`mtlreg.metrics`.
"""

from ._data import stack_tasks
from .feature import (
    L21Classifier,
    L21Regressor,
    LassoClassifier,
    LassoRegressor,
    MTFLClassifier,
    MTFLRegressor,
)
from .problem import alpha_max

from .lowrank import (
    CASOClassifier,
    CASORegressor,
    SparseTraceClassifier,
    SparseTraceRegressor,
    TraceClassifier,
    TraceRegressor,
)
from .clustering import ClusteredClassifier, ClusteredRegressor
from .progression import TGLClassifier, TGLRegressor
from .relation import (GraphClassifier, GraphRegressor, MeanRegularizedClassifier,
                       MeanRegularizedRegressor, RelationClassifier, RelationRegressor)
from .decomposition import (
    DirtyClassifier,
    DirtyRegressor,
    RMTFLClassifier,
    RMTFLRegressor,
    RobustClassifier,
    RobustRegressor,
)

from . import metrics, model_selection  # noqa: E402  (they import the estimators' modules)

__version__ = "0.1.0"

__all__ = [
    "L21Classifier", "L21Regressor", "LassoClassifier", "LassoRegressor",
    "MTFLClassifier", "MTFLRegressor", "TraceClassifier", "TraceRegressor",
    "SparseTraceClassifier", "SparseTraceRegressor", "CASOClassifier", "CASORegressor",
    "ClusteredClassifier", "ClusteredRegressor", "DirtyClassifier", "DirtyRegressor", "RobustClassifier", "RobustRegressor",
    "RMTFLClassifier", "RMTFLRegressor", "RelationClassifier", "RelationRegressor",
    "GraphClassifier", "GraphRegressor", "MeanRegularizedClassifier", "MeanRegularizedRegressor",
    "TGLClassifier", "TGLRegressor", "alpha_max", "stack_tasks", "metrics", "model_selection", "__version__",
]
