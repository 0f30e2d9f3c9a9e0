"""Declared capabilities: a misspelt declaration is an error, not a silent default.

The protocols (:class:`mtlreg.penalties.Penalty`, :class:`~mtlreg.penalties.SmoothTerm`,
:class:`mtlreg.losses.BaseDataFit`) declare what an implementation can do as
class attributes with a default of False.  A subclass that sets
``seperable_over_features = True`` would otherwise just get the default (no
working sets); :func:`check_declared` runs when the subclass is created.
"""

import re

__all__ = ["check_declared", "DeclaresCapabilities"]

# names that look like a capability flag
_FLAG = re.compile(r"^(has|can|is)_|_over_|_is_|_varies$")


def check_declared(cls, known):
    """Raise TypeError if ``cls`` defines a flag-like class attribute not in ``known``."""
    unknown = sorted(name for name in vars(cls)
                     if not name.startswith("_") and _FLAG.search(name) and name not in known)
    if unknown:
        raise TypeError(
            f"{cls.__name__} declares {', '.join(unknown)}, which is not a capability of "
            f"its protocol; the capabilities are {', '.join(sorted(known))}.")


class DeclaresCapabilities:
    """Base of the protocols: a subclass's flag-like class attributes must be
    among ``CAPABILITIES``, checked when the subclass is created."""

    CAPABILITIES = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_declared(cls, cls.CAPABILITIES)
