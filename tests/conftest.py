"""Shared fixtures (helpers live in model_helpers.py and store_helpers.py)."""

from __future__ import annotations

import pytest

from alliance_risk.pipeline.engine.execute import dask_client


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster, as the pipeline makes one: two single-threaded worker processes."""
    with dask_client(workers=2) as c:
        yield c
