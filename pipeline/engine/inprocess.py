"""The in-process executor: the same blocks and the same fold as on Dask, in this process.

For the inner test loop, debugging (a breakpoint in the kernel works) and small runs where a
cluster's start-up would dominate. Blocks run in index order, one at a time; the statistics,
and so the stored run, are bitwise those of a Dask run (tests/pipeline/test_engine.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from tqdm.auto import tqdm

from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.block import Sink, simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec

EXECUTORS = ("dask", "inprocess")


class BlockError(RuntimeError):
    """A block failed (one line, for the user; the completed blocks are kept)."""


def run_blocks_inprocess(
    scenario: Scenario,
    spec: RunSpec,
    blocks: Iterable[int],
    on_block: Callable[[int, dict], None],
    run_key: str,
    sink: Sink | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    done: int = 0,
    timings: list | None = None,
) -> None:
    """Run ``blocks`` here and call ``on_block(b, stats)`` after each (arguments as
    ``execute.run_blocks``; a failing block is not retried)."""
    report = progress if callable(progress) else None
    show = sys.stderr.isatty() if progress is None else progress is True
    total = spec.n_blocks * spec.block_size
    with tqdm(
        total=total, initial=done * spec.block_size, unit="sim", unit_scale=True,
        disable=not show, desc=scenario.name,
    ) as bar:  # fmt: skip
        for block in blocks:
            try:
                stats, timing = simulate_block(scenario, spec, block, sink)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                raise BlockError(
                    f"block {block} failed ({type(exc).__name__}: {first}); completed blocks "
                    f"are kept: resume with `alliance-risk run --resume {run_key}` or discard it"
                ) from exc
            if timings is not None:
                timings.append(timing)
            on_block(block, stats)
            bar.update(spec.block_size)
            done += 1
            if report is not None:
                report(done * spec.block_size, total)
