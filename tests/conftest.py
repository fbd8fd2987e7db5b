"""Shared fixtures (helpers live in model_helpers.py and store_helpers.py)."""

from __future__ import annotations

import pytest
from dask.distributed import Client, LocalCluster


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster: two single-threaded worker processes."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c
