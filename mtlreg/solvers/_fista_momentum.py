"""FISTA's momentum ``t_k`` with adaptive restart.

Each trial step asks ``beta(L, L_prev)`` for the extrapolation weight of
``y = x + beta (x - x_old)``; once a step is accepted, ``advance(restart_dot)``
moves to ``t_{k+1}``, or restarts at ``t = 1`` when the momentum points
against the last step, ``<x_new - y, x - x_new> > 0`` (O'Donoghue & Candes
2015).

* :class:`HostMomentum` -- ``t`` as a Python float, with the rule of
  Calatroni & Chambolle (2019) for a step constant that varies,
  ``t_{k+1} = (1 + sqrt(1 + 4 (L_{k+1} / L_k) t_k^2)) / 2``: it keeps the
  O(1/k^2) rate, and is the usual FISTA rule when ``L`` is constant.
* :class:`DeviceMomentum` -- ``t`` as a 0-d array on the device, and the
  restart test applied there: with a fixed step the host reads nothing
  between two convergence checks.
"""

import math

from .._backend import as_float, device, is_numpy_namespace

__all__ = ["HostMomentum", "DeviceMomentum", "momentum_for"]


def momentum_for(xp, step, restart, like):
    """On the device with a fixed step off NumPy (a line search reads every
    trial back anyway); Python floats otherwise.  ``like``: an array with the
    dtype and device of the iterates."""
    if step.is_fixed and not is_numpy_namespace(xp):
        return DeviceMomentum(xp, restart, like)
    return HostMomentum(restart)


class HostMomentum:
    """Momentum as a host float; ``beta`` is None when the step is not
    extrapolated (``beta <= 0``: the first step, or just after a restart)."""

    def __init__(self, restart):
        self.restart = restart
        self.t = 1.0
        self._t_next = None

    def beta(self, L, L_prev):
        t = self.t
        self._t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * (L / L_prev) * t * t))
        beta = (t - 1.0) / self._t_next
        return beta if beta > 0 else None

    def advance(self, restart_dot):
        t_next = self._t_next
        if self.restart and as_float(restart_dot) > 0:
            t_next = 1.0
        self.t = t_next


class DeviceMomentum:
    """Momentum as a 0-d device array, for a fixed step (``L`` constant, so
    the plain FISTA rule).  ``beta`` is a device scalar, always applied
    (``beta = 0`` extrapolates to ``x`` itself): testing its sign would sync."""

    def __init__(self, xp, restart, like):
        self.xp = xp
        self.restart = restart
        self.t = xp.asarray(1.0, dtype=like.dtype, device=device(like))
        self._t_next = None

    def beta(self, L, L_prev):
        t = self.t
        self._t_next = 0.5 * (1.0 + self.xp.sqrt(1.0 + 4.0 * t * t))
        return (t - 1.0) / self._t_next

    def advance(self, restart_dot):
        t_next = self._t_next
        if self.restart:
            t_next = self.xp.where(restart_dot > 0, self.xp.ones_like(t_next), t_next)
        self.t = t_next
