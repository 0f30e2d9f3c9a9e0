"""The contract between the benchmark runner and the suites.

A suite is a module ``benchmarks.suites.<name>`` with

* ``DESCRIPTION``: one line;
* ``cases(ctx) -> iterable of Case``: the problems x solvers it measures;
* optionally ``figures(records, out_dir) -> list of paths`` (matplotlib, may
  raise ``ImportError`` when matplotlib is missing: the runner then skips the
  figures with a note);
* optionally ``summary(records) -> list of Markdown lines``: a section of its
  own (e.g. the worst case over a grid), placed after the metric tables.

The runner (``benchmarks/_runner.py``) calls ``case.run()`` ``ctx.repeat``
times, catches :class:`Skip` (recorded with its reason, never an error), and
writes the records as CSV, JSON and a Markdown summary.
"""

from dataclasses import dataclass, field
from typing import Callable


class Skip(Exception):
    """A case that cannot run here (peer not installed, no GPU, too large for
    ``--max-time``); the message is the reason shown in the report."""


@dataclass
class Context:
    """What the command line asked for."""

    suite: str
    out_dir: str
    repeat: int = 1
    device: str = "cpu"  # "cpu" or "cuda"
    max_time: float = float("inf")  # seconds per case (a case may Skip when it would exceed it)
    seed: int = 0


@dataclass
class Case:
    """One measurement: ``run()`` returns ``{metric_name: float}`` or raises Skip.

    ``problem`` and ``solver`` are short labels used as table rows and
    columns; ``params`` are extra columns (sizes, alpha, ...) copied into
    every record.
    """

    problem: str
    solver: str
    run: Callable[[], dict]
    params: dict = field(default_factory=dict)
