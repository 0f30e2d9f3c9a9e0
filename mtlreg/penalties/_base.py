"""The two kinds of structural term, as abstract base classes.

* :class:`Penalty` -- a term the solver takes a proximal step on:
  ``value(coef)`` and ``prox(coef, step)``.
* :class:`SmoothTerm` -- a differentiable term the solver adds to the data
  fit: ``value(coef)``, ``value_and_grad(coef)``, ``lipschitz()``.

Both declare what they can do beyond that as class (or instance) attributes,
never discovered by probing: ``has_conjugate`` (``conjugate`` and, for a
penalty, ``dual_scale`` certify a duality gap), ``separable_over_features``
(``feature_scores``: working sets of features), ``separable_over_entries``
(``entry_scores``: a working set per task), ``has_auxiliary``
(``auxiliary_step``, ``step_penalty``, ``perturbation``: alternating
minimization), ``has_range_conjugate`` and ``is_two_homogeneous`` (a smooth term's
routes to a certified gap, see :class:`SmoothTerm`), ``has_prox`` (a smooth term's
closed-form prox, for ADMM), ``is_zero`` (the zero penalty of models whose structure is
all smooth), ``zero_task_is_free`` (setting one task's ``w_t`` to zero never
raises the term: true of the norms, the squared trace norms, cASO and task
clustering, false of a task graph; a task without loss -- one class with a
free intercept -- then gets ``w_t = 0``).  A solver checks the capabilities it needs with
:func:`mtlreg.solvers.require` and raises a readable error otherwise.

:class:`NormPenalty` derives everything from three methods of a norm:
``norm``, ``norm_prox`` and ``dual_norm``.
"""

from abc import ABC, abstractmethod

from .._backend import as_float, device
from .._capabilities import DeclaresCapabilities

__all__ = ["Penalty", "SmoothTerm", "ScaledPenalty", "NormPenalty"]


class Penalty(DeclaresCapabilities, ABC):
    """A proximable term ``h(W)`` of the objective (``W = coef.T``)."""

    has_conjugate = False
    parts = ()  # the parts' penalties, for a penalty on stacked parts
    separable_over_features = False
    separable_over_entries = False
    has_auxiliary = False
    is_zero = False
    zero_task_is_free = False
    CAPABILITIES = ("has_conjugate", "separable_over_features", "separable_over_entries",
                    "has_auxiliary", "is_zero", "zero_task_is_free")

    @abstractmethod
    def value(self, coef):
        """``h(W)``."""

    @abstractmethod
    def prox(self, coef, step):
        """``argmin_X ||X - coef||^2 / 2 + step * h(X)``."""

    def dual_scale(self, V):
        """Largest ``s`` in [0, 1] with ``conjugate(s V)`` finite."""
        return 1.0

    def task_dual_scales(self, V):
        """Per task, the largest ``s_t`` in [0, 1] with the conjugate finite at
        ``diag(s) V`` (a penalty that is a sum over the tasks, so that each task's
        dual point may be scaled on its own), or None: one common scale only."""
        return None

    def conjugate(self, V):
        """``h*(V) = sup_W <V, W> - h(W)`` (when ``has_conjugate``)."""
        raise NotImplementedError(f"{type(self).__name__} has no conjugate")

    def feature_scores(self, V):
        """Per-feature part of the dual norm (when ``separable_over_features``)."""
        raise NotImplementedError(f"{type(self).__name__} is not separable over features")

    def entry_scores(self, V):
        """Per-entry part of the dual norm, shape (n_tasks, n_features) (when
        ``separable_over_entries``: a sum over the entries, so that each task
        may have a working set of its own)."""
        raise NotImplementedError(f"{type(self).__name__} is not separable over entries")


class SmoothTerm(DeclaresCapabilities, ABC):
    """A differentiable structural term ``g(W)`` with a Lipschitz gradient."""

    has_conjugate = False
    has_range_conjugate = False
    is_two_homogeneous = False
    has_prox = False
    zero_task_is_free = False
    CAPABILITIES = ("has_conjugate", "has_range_conjugate", "is_two_homogeneous", "has_prox",
                    "zero_task_is_free")

    @abstractmethod
    def value_and_grad(self, coef):
        """``(g(W), grad g(W))`` from one evaluation."""

    @abstractmethod
    def lipschitz(self):
        """A Lipschitz constant of ``grad g``."""

    def value(self, coef):
        return self.value_and_grad(coef)[0]

    def conjugate(self, V):
        """``g*(V)`` (when ``has_conjugate``)."""
        raise NotImplementedError(f"{type(self).__name__} has no conjugate")

    # ``has_range_conjugate``: g* is finite only where ``null_space^T V = 0`` (a
    # quadratic that is flat along ``null_space``, over the tasks); there it is
    # ``range_conjugate(V)``.  A data fit with ``has_range_dual`` moves its dual
    # point into that range (:class:`mtlreg.losses.RangeMover`).
    # ``is_two_homogeneous``: ``g(t W) = t^2 g(W)`` for ``t >= 0`` (a positive
    # semidefinite quadratic form, cASO, clustering): then
    # ``g(W) = <W, grad g(W)> / 2`` and the Fenchel-Young term of ``s grad g(W)``
    # is ``(1 - s)^2 g(W)``, so ``g`` certifies the gap under a non-zero prox
    # penalty too (:class:`mtlreg.losses.SmoothlyPenalizedDataFit`, route
    # "homogeneous").
    null_space = None

    def range_conjugate(self, V):
        """``g*(V)`` for ``V`` in the range (when ``has_range_conjugate``)."""
        raise NotImplementedError(f"{type(self).__name__} has no range conjugate")

    def prox(self, coef, step):
        """``argmin_X ||X - coef||^2 / 2 + step * g(X)`` in closed form (when
        ``has_prox``: ADMM then splits the data fit from ``g``)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form prox")


class ScaledPenalty(Penalty):
    """``alpha * structure(W) + ridge * ||W||_F^2``: stores the two strengths."""

    has_conjugate = True

    def __init__(self, xp, alpha, ridge=0.0):
        self.xp = xp
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        if self.alpha == 0.0 and self.ridge == 0.0:
            # h = 0: its conjugate is the indicator of {0}, no usable dual point.
            self.has_conjugate = False


class NormPenalty(ScaledPenalty):
    """``h(W) = alpha * Omega(W) + ridge * ||W||_F^2`` for a norm ``Omega``.

    ``zero_task_is_free``: every norm here is monotone under zeroing a task's
    coefficients (entrywise, group and spectral norms alike).

    Subclasses give ``norm``, ``norm_prox`` (prox of ``tau * Omega``) and
    ``dual_norm``.  Everything else follows:

    * prox of the sum: ``prox_{s h}(V) = prox_{s alpha / k Omega}(V / k)`` with
      ``k = 1 + 2 s ridge``;
    * conjugate: with ``ridge = 0`` the indicator of the dual-norm ball of radius
      ``alpha``; with ``ridge > 0`` the infimal convolution
      ``||V - P(V)||^2 / (4 ridge) = ||prox_{alpha Omega}(V)||^2 / (4 ridge)``
      (Moreau), finite everywhere;
    * ``alpha_max(grad) = dual_norm(grad)``: ``W = 0`` is optimal iff
      ``-grad F(0)`` lies in ``alpha`` times the dual-norm ball.
    """

    zero_task_is_free = True

    def value(self, coef):
        xp = self.xp
        return self.alpha * self.norm(coef) + self.ridge * xp.sum(coef * coef)

    def prox(self, coef, step):
        if self.ridge == 0:
            return self.norm_prox(coef, step * self.alpha)
        k = 1.0 + 2.0 * step * self.ridge
        return self.norm_prox(coef / k, step * self.alpha / k)

    def dual_scale(self, V):
        if self.ridge > 0:
            return 1.0
        dn = as_float(self.dual_norm(V))
        return 1.0 if dn <= self.alpha else self.alpha / dn

    def task_dual_scales(self, V):
        if not self.separable_over_entries:
            return None
        xp = self.xp
        ones = xp.ones((V.shape[0],), dtype=V.dtype, device=device(V))
        if self.ridge > 0:
            return ones
        dn = xp.max(self.entry_scores(V), axis=1)  # each task's dual norm
        return xp.where(dn <= self.alpha, ones, self.alpha / xp.where(dn > 0, dn, ones))

    def conjugate(self, V):
        if self.ridge > 0:
            P = self.norm_prox(V, self.alpha)
            return as_float(self.xp.sum(P * P)) / (4.0 * self.ridge)
        return 0.0  # V is inside the ball after dual_scale

    def alpha_max(self, grad):
        """Smallest ``alpha`` for which ``W = 0`` is optimal, given ``grad F(0)``."""
        return as_float(self.dual_norm(grad))

    def dual_norm(self, V):
        """``Omega*(V)``; separable norms need only ``feature_scores``."""
        return self.xp.max(self.feature_scores(V))

    # -- to implement --------------------------------------------------------
    @abstractmethod
    def norm(self, coef):
        """``Omega(W)``."""

    @abstractmethod
    def norm_prox(self, coef, tau):
        """Prox of ``tau * Omega``."""
