import os

# scikit-learn's array API dispatch needs SciPy's array API mode, which must be
# switched on before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def array_api_unavailable():
    """Why the array-API tests cannot run here, or None.

    Two limits of the lowest supported versions, neither of them mtlreg's:
    scikit-learn's ``array_api_dispatch`` refuses to switch on with SciPy
    older than 1.14, and array-api-strict's emulated second device copies
    arrays with ``np.asarray(copy=...)``, which NumPy has only from 2.0.
    """
    import sklearn

    try:
        with sklearn.config_context(array_api_dispatch=True):
            pass
    except ImportError as exc:
        return f"scikit-learn's array API dispatch is unavailable: {exc}"
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        return (f"array-api-strict's emulated devices need NumPy >= 2.0 (np.asarray(copy=)); "
                f"NumPy {np.__version__} is installed")
    return None


def import_array_api_strict():
    """``array_api_strict``, or a skip that says why the array-API tests cannot run."""
    reason = array_api_unavailable()
    if reason is not None:
        pytest.skip(reason, allow_module_level=True)
    return pytest.importorskip("array_api_strict")


@pytest.fixture
def plt():
    """matplotlib.pyplot on the Agg backend (no display); figures closed after the test."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")
