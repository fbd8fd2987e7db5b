"""Execution on Dask: a LocalCluster by default, or an existing scheduler.

Each task runs one block through the kernel and reduces it on the worker; the client receives
small statistics as blocks finish (in any order), hands each to ``on_block`` (which persists
it) and releases the future at once, so client memory does not grow with the number of
blocks. At most ``2 x threads`` blocks are in flight.

Retry policy: a worker that dies is the scheduler's business (``allowed-failures``). A block
that raises is run once more; the same error twice is deterministic (a bug, bad numbers) and
stops the run at once with the block and the reason, its completed blocks kept for
``--resume``. Different errors each time (a flaky node) give up after ``MAX_TRIES``.
"""

from __future__ import annotations

import ctypes
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import dask
from dask.distributed import Client, LocalCluster, as_completed
from dask.utils import parse_timedelta

from alliance_risk.models.errors import EnvironmentFailure
from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.block import Sink, simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.engine.progress import BlockError, BlockProgress, Progress, failure

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
MAX_TRIES = 3  # runs of one block whose errors differ (the same error twice stops)


class ClusterError(EnvironmentFailure):
    """The Dask scheduler cannot be reached or used (one line, for the user)."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A Client on ``scheduler`` (or $DASK_SCHEDULER_ADDRESS), else on a new LocalCluster."""
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            client = Client(address, timeout=_connect_timeout())
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    with local_cluster(workers) as cluster, Client(cluster) as c:
        yield c


# distributed's statistical profiler samples every thread's stack 100 times a second, holding
# the GIL; the kernel gives the GIL up and takes it back hundreds of times per block (numba
# nogil code, numpy calls), and waits for it. Measured (one worker, a free core, 3 rounds,
# min of 4 blocks of 10,000): the kernel at 14,500 sims/s on average with the profiler,
# 15,900 without, 16,600 in a plain process. The dashboard's profile page stays empty.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


# The local default runs its workers as threads of this process. The kernel and numpy's big
# operations run without the GIL (numba ``nogil``), so threads compute in parallel; what they
# save is start-up (no worker processes to spawn, each importing numba and loading the
# compiled kernel), transfers (a block's statistics are handed over, not pickled), and
# shut-down. Measured on 2 cores (300k simulations, 2 workers, twice, interleaved):
# processes 3.65 and 2.33 s to start, 20,176 and 18,885 sims/s, 0.73-0.76 s to close;
# threads 0.87 and 0.05 s, 22,063 and 19,196 sims/s, 0.01 s. Processes isolate a worker that
# crashes or leaks (a nanny restarts it): ``ALLIANCE_RISK_LOCAL_PROCESSES=1`` or
# ``processes=True`` chooses them; a real cluster (deploy/) always runs worker processes.
PROCESSES_ENV = "ALLIANCE_RISK_LOCAL_PROCESSES"


def local_cluster(workers: int | None = None, processes: bool | None = None) -> LocalCluster:
    """The pipeline's LocalCluster: ``workers`` single-threaded workers (default one per
    core), threads of this process unless ``processes`` (default: $ALLIANCE_RISK_LOCAL_PROCESSES),
    started with the malloc and profiler settings below."""
    n = workers or max(os.cpu_count() or 1, 1)
    if processes is None:
        processes = _processes_from_env()
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}
    with dask.config.set(environ | WORKER_CONFIG):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            protocol="tcp://",  # threads would talk inproc://, an address no other process can use
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=40,
        )


def _processes_from_env() -> bool:
    value = os.environ.get(PROCESSES_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ClusterError(f"{PROCESSES_ENV} must be 1 or 0 (true or false), got {value!r}")


def warm_workers(client: Client) -> None:
    """Have every worker import the kernel and load its compiled code now (numba's cache:
    1-2 s per fresh process), so a run's first blocks do not wait for it."""
    client.run(_warm)


_warm_lock = threading.Lock()
_warmed = False


def _warm() -> None:
    """Once per process: worker threads of one process share the loaded kernel (the others
    wait for the first instead of simulating again)."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        import numpy as np

        from alliance_risk.models.kernel import simulate
        from alliance_risk.models.sampling import sample_parameters
        from alliance_risk.models.scenario import load_scenario
        from alliance_risk.pipeline.outputs import BURDEN_BINS

        _tune_malloc()
        sc = load_scenario("nato-2025")
        params = sample_parameters(sc, 2, np.random.default_rng(0))
        simulate(sc, params, np.random.default_rng(0), member_summary=BURDEN_BINS)
        _warmed = True


def _connect_timeout() -> float:
    """10 s, or distributed's connect timeout (distributed.comm.timeouts.connect) if lower."""
    configured = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    return min(10.0, configured or 10.0)


# distributed's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes
# glibc's mmap threshold at 128 KiB: every large numpy temporary then becomes a fresh mmap
# with page faults, and a block's sampling and reduction ran 3-6x slower than in process
# (+22% over the kernel). Workers restore a 32 MiB mmap threshold (glibc's dynamic maximum).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
WORKER_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 256 * 2**20, "MALLOC_MMAP_THRESHOLD_": 32 * 2**20}
_malloc_tuned = False


def _tune_malloc() -> None:
    """Once per worker process: mallopt the thresholds above (no-op off glibc)."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, WORKER_MALLOC["MALLOC_MMAP_THRESHOLD_"])
        libc.mallopt(M_TRIM_THRESHOLD, WORKER_MALLOC["MALLOC_TRIM_THRESHOLD_"])
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _block_task(scenario: Scenario, spec: RunSpec, block: int, sink: Sink | None):
    _tune_malloc()
    return simulate_block(scenario, spec, block, sink)


def run_blocks(
    client: Client,
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
    """Run ``blocks`` and call ``on_block(b, stats)`` as each completes.

    ``progress``: None shows a bar on a terminal, True/False force it, a callable receives
    (simulations done, simulations planned) after each block (the flows log with it).

    ``timings``, if given, receives each block's {"kernel": s, "block": s} measured on the
    worker (for benchmarks; not part of the stored results).
    """
    todo = list(blocks)
    threads = max(sum(client.nthreads().values()), 1)
    window = 2 * threads
    bar = BlockProgress(scenario, spec, on_block, progress, done, timings)
    shared = {"scenario": client.scatter(scenario, broadcast=True) if todo else None, "lost": 0}
    pending = iter(todo)
    errors: dict[int, list[str]] = {}  # block -> the errors of its failed runs
    call = uuid.uuid4().hex[:8]  # keys unique per call: a resume never gets an old failure

    def submit(b):
        key = f"{run_key}-{call}-b{b}-t{len(errors.get(b, ()))}-l{shared['lost']}"
        return client.submit(_block_task, shared["scenario"], spec, b, sink, key=key, pure=False)

    futures = as_completed([submit(b) for _, b in zip(range(window), pending, strict=False)])
    with bar:
        for fut in futures:
            block = int(fut.key.rsplit("-b", 1)[1].split("-t")[0])
            try:
                stats, timing = fut.result()
            except Exception as exc:
                if not _rescatter_if_lost(client, shared, scenario):  # else: not the block's fault
                    _give_up_or_retry(errors.setdefault(block, []), block, exc, run_key)
                futures.add(submit(block))
                continue
            fut.release()
            bar.completed(block, stats, timing)
            nxt = next(pending, None)
            if nxt is not None:
                futures.add(submit(nxt))


def _rescatter_if_lost(client: Client, shared: dict, scenario: Scenario) -> bool:
    """Scatter the scenario again if every worker holding it died (its future is then
    cancelled as "lost dependencies" and every task using it fails). At most ``MAX_TRIES``
    times per call: a cluster that keeps losing workers is reported as a block failure."""
    if shared["scenario"].status == "finished" or shared["lost"] >= MAX_TRIES:
        return False
    shared["lost"] += 1
    shared["scenario"] = client.scatter(scenario, broadcast=True)
    return True


def _give_up_or_retry(seen: list[str], block: int, exc: BaseException, run_key: str) -> None:
    """Raise ``BlockError`` if ``exc`` repeats an earlier error of the block (deterministic)
    or the block has failed ``MAX_TRIES`` times; else record it (the caller reruns)."""
    what = f"{type(exc).__name__}: {exc}"
    if what in seen:
        raise BlockError(failure(block, exc, run_key, "failed twice with the same error"), exc)
    seen.append(what)
    if len(seen) >= MAX_TRIES:
        raise BlockError(failure(block, exc, run_key, f"failed {MAX_TRIES} times"), exc)
