"""Flow tests: a real Prefect API (prefect_test_harness, one per module: ~12 s to start,
and stopped after it, so its background services do not compete with later tests for the
two cores) and the session's LocalCluster (tests/conftest.py), whose scheduler address the
flows get."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness

import alliance_risk.flows  # noqa: F401 - offline Prefect defaults before Prefect is imported


@pytest.fixture(autouse=True, scope="module")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        from prefect.settings import PREFECT_API_URL

        yield PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def scheduler(client):
    return client.scheduler.address
