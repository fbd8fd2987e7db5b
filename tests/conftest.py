"""Shared fixtures (helpers live in model_helpers.py and store_helpers.py), and the markers
of tests that start clusters, servers or browsers, applied from the fixtures they use.

The inner loop skips them: ``pytest -m "not cluster and not server and not browser"``.
"""

from __future__ import annotations

from pathlib import Path

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


# The slowest test files, longest first (seconds on 2 cores, `--durations` and a JUnit report
# of the whole run): collected first, so that pytest-xdist, which hands files to its two
# workers in collection order (`--no-loadscope-reorder` in pyproject.toml; its default order
# is by number of tests), starts them first and ends with short files on both workers.
SLOWEST_FIRST = (
    "flows/test_flows.py",  # 159
    "pipeline/test_object_store.py",  # 120-158
    "dashboard/test_dashboard.py",  # 78
    "pipeline/test_engine.py",  # 66
    "deploy/test_deployments.py",  # 56
    "models/test_comparative_statics.py",  # 48
    "models/test_kernel_analytic.py",  # 42 (with the kernel's first compilation)
    "test_docs_events.py",  # 38
    "pipeline/test_integrity.py",  # 36
)
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_file(item), len(rank)))  # stable: files stay whole


def _file(item) -> str:
    try:
        return item.path.relative_to(TESTS).as_posix()
    except ValueError:
        return ""


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
