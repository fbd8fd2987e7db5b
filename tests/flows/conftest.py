"""Flow tests: a real Prefect API (prefect_test_harness, session-scoped: ~12 s to start)
and a real LocalCluster whose scheduler address the flows are given."""

from __future__ import annotations

import pytest
from dask.distributed import LocalCluster
from prefect.testing.utilities import prefect_test_harness

import flows  # noqa: F401 - offline Prefect defaults before Prefect is imported


@pytest.fixture(autouse=True, scope="session")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        from prefect.settings import PREFECT_API_URL

        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def scheduler():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as cluster:
        yield cluster.scheduler_address
