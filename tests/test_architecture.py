"""The architecture of docs/architecture.md holds: imports go one way, families do
not import each other, nothing outside the estimator base uses an estimator's
private internals, and the page's examples run.

The import graph is read from the source (every ``from .x import`` and
``import mtlreg.x``, also inside functions), not from what happens to be
imported at run time.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mtlreg"

# the layers of docs/architecture.md, lowest first; a module may import its own
# layer and the ones below
LAYERS = [
    {"_backend", "_docstring", "_capabilities"},
    {"_data"},
    {"losses"},
    {"penalties"},
    {"solvers"},
    {"_parts"},
    {"problem"},
    {"base"},
    {"feature", "lowrank", "clustering", "relation", "decomposition", "progression"},
    {"metrics", "plotting", "model_selection"},
    {"datasets"},
    {"__init__"},
]
FAMILIES = LAYERS[8]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_of(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]  # a subpackage counts as one module


def _imports(path):
    """Top-level mtlreg modules that ``path`` imports."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(package)[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from . import x": the names are modules
                    found.update(alias.name for alias in node.names)
                    continue
                found.add(target[0])
            elif node.module and node.module.split(".")[0] == "mtlreg":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "mtlreg":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = {_module_of(p) for p in SOURCES} - set(LAYER_OF)
    assert not missing, f"add {sorted(missing)} to LAYERS (and to docs/architecture.md)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = _module_of(path)
    for target in _imports(path):
        if target == here or target not in LAYER_OF:
            continue
        if here == "metrics" and target == "__init__":
            continue  # the module docstring's doctest imports the package
        assert LAYER_OF[target] <= LAYER_OF[here], f"{here} imports {target}, a layer above it"
        if here in FAMILIES:
            assert target not in FAMILIES - {here}, f"family {here} imports family {target}"


def test_only_the_estimator_base_uses_estimator_internals():
    """Model selection, the metrics, the benchmarks and the examples go through
    the seam (prepare / get_objective / solve / fit_problem)."""
    internals = re.compile(r"\.(_problem|_fit_problem|_make_penalty|_wrap_datafit|"
                           r"_initial_point|_predict_warm_start|_parts|_zero_norms|"
                           r"_part_ceilings|_ceiling_constants|_store_extra|_solve)\b")
    callers = [PACKAGE / "model_selection.py", PACKAGE / "metrics.py", PACKAGE / "plotting.py",
               *(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    hits = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
            for path in callers for i, line in enumerate(path.read_text().splitlines(), 1)
            if internals.search(line)]
    assert not hits, "\n".join(hits)


def test_the_architecture_page_examples_run():
    """Every ```python block of docs/architecture.md, in order, in one namespace
    (```py blocks are excerpts, not run)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/architecture.md", "exec"), namespace)
