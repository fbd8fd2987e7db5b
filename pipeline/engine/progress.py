"""What every executor does as blocks complete: persist, record timings, show progress.

``BlockProgress`` holds the progress bar (or the callback the flows log with) and the count of
blocks done; ``failure`` words the one-line error of a block that failed. Both executors
(``execute`` on Dask, ``inprocess``) use them, so a run looks the same whichever runs it.
"""

from __future__ import annotations

import errno
import sys
import time
from collections.abc import Callable

from tqdm.auto import tqdm

from alliance_risk.models.errors import AllianceRiskError, EnvironmentFailure
from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.plan import RunSpec

Progress = bool | Callable[[int, int], None] | None


class BlockProgress:
    """Calls ``on_block(b, stats)`` for each completed block, appends its timing to
    ``timings`` (if given) and advances the bar. ``progress``: None shows a bar on a terminal,
    True/False force it, a callable receives (simulations done, simulations planned)."""

    def __init__(
        self,
        scenario: Scenario,
        spec: RunSpec,
        on_block: Callable[[int, dict], None],
        progress: Progress = None,
        done: int = 0,
        timings: list | None = None,
    ):
        self.spec, self.on_block, self.done, self.timings = spec, on_block, done, timings
        self.report = progress if callable(progress) else None
        show = sys.stderr.isatty() if progress is None else progress is True
        self.total = spec.n_blocks * spec.block_size
        self.bar = tqdm(
            total=self.total, initial=done * spec.block_size, unit="sim", unit_scale=True,
            disable=not show, desc=scenario.name, smoothing=0.1,
        )  # fmt: skip

    def completed(self, block: int, stats: dict, timing: dict) -> None:
        t0 = time.perf_counter()
        self.on_block(block, stats)
        if self.timings is not None:  # the worker's stages, and the client's save
            self.timings.append({**timing, "save": time.perf_counter() - t0})
        self.bar.update(self.spec.block_size)
        self.done += 1
        if self.report is not None:
            self.report(self.done * self.spec.block_size, self.total)

    def __enter__(self) -> BlockProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


ENVIRONMENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
}


def is_environment(exc: BaseException) -> bool:
    """Whether ``exc`` is the environment failing (disk full, permission), not the input."""
    if isinstance(exc, EnvironmentFailure):
        return True
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


class BlockError(AllianceRiskError):
    """A block failed for good (one line, for the user; the completed blocks are kept).

    Exit status 3 when the cause is the environment (a full disk, a permission), else 1."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        if cause is not None and is_environment(cause):
            self.exit_code = EnvironmentFailure.exit_code


def failure(block: int, exc: BaseException, run_key: str, how: str = "failed") -> str:
    """One line for a block that failed: the first line of its error, and what to do."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return (
        f"block {block} {how} ({type(exc).__name__}: {first}); completed blocks are kept: "
        f"resume with `alliance-risk run --resume {run_key}` or discard it"
    )
