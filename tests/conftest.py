"""Shared fixtures (helpers live in model_helpers.py and pipeline/store_helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    return request.param
