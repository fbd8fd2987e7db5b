"""Shared fixtures (helpers live in model_helpers.py and store_helpers.py), and the markers
of tests that start clusters, servers or browsers, applied from the fixtures they use.

The inner loop skips them: ``pytest -m "not cluster and not server and not browser"``.
"""

from __future__ import annotations

import pytest

from alliance_risk.pipeline.engine.execute import dask_client

# a test using one of these fixtures starts (or shares) what its marker names
FIXTURE_MARKERS = {
    "client": "cluster",  # the session's LocalCluster
    "scheduler": "cluster",
    "cluster": "cluster",  # `dask scheduler` / `dask worker` processes
    "s3": "server",  # moto's S3 server
    "prefect_api": "server",  # Prefect's test API server
    "server": "server",  # `prefect server start`
    "dashboard": "browser",  # the Bokeh server and headless Chromium
}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster, as the pipeline makes one: two single-threaded worker processes.
    One per module that uses it: an idle cluster's scheduler shares this process and slowed
    later tests (the S3 ones by half)."""
    with dask_client(workers=2) as c:
        yield c
