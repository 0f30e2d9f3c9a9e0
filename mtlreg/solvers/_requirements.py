"""Solvers state what they need from the data fit and the penalty."""

__all__ = ["require"]


def require(solver, obj, role, methods=(), capabilities=()):
    """Raise a readable TypeError unless ``obj`` (the ``role`` of ``solver``:
    "data fit", "penalty") has every method in ``methods`` and every declared
    capability in ``capabilities`` set.

    Capabilities are class or instance attributes of the protocols in
    :mod:`mtlreg.losses` and :mod:`mtlreg.penalties` (``has_conjugate``,
    ``has_dual``, ``has_auxiliary``, ...): a misspelt one is an error here,
    never a silently disabled certificate.
    """
    missing = [f"{m}()" for m in methods if not callable(getattr(obj, m, None))]
    for name in capabilities:
        try:
            value = getattr(obj, name)
        except AttributeError:
            raise TypeError(f"{solver}: the {role} {type(obj).__name__} does not declare "
                            f"the capability {name!r}.") from None
        if not value:
            missing.append(name)
    if missing:
        raise TypeError(f"{solver} needs {', '.join(missing)} from its {role}; "
                        f"{type(obj).__name__} does not provide it.")
