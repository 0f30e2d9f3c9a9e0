import os

# scikit-learn's array API dispatch needs SciPy's array API mode, which must be
# switched on before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
