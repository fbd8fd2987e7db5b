"""The in-process executor: the same blocks and the same fold as on Dask, in this process.

For the inner test loop, debugging (a breakpoint in the kernel works) and small runs where a
cluster's start-up would dominate. Blocks run in index order, one at a time; the statistics,
and so the stored run, are bitwise those of a Dask run (tests/pipeline/test_engine.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.block import Sink, simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.engine.progress import BlockError, BlockProgress, Progress, failure

EXECUTORS = ("dask", "inprocess")


def run_blocks_inprocess(
    scenario: Scenario,
    spec: RunSpec,
    blocks: Iterable[int],
    on_block: Callable[[int, dict], None],
    run_key: str,
    sink: Sink | None = None,
    progress: Progress = None,
    done: int = 0,
    timings: list | None = None,
) -> None:
    """Run ``blocks`` here and call ``on_block(b, stats)`` after each (arguments as
    ``execute.run_blocks``; a failing block is not retried)."""
    with BlockProgress(scenario, spec, on_block, progress, done, timings) as bar:
        for block in blocks:
            try:
                stats, timing = simulate_block(scenario, spec, block, sink)
            except Exception as exc:
                raise BlockError(failure(block, exc, run_key), exc) from exc
            bar.completed(block, stats, timing)
