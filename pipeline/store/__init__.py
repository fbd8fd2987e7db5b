"""The Zarr v3 forecast store: published runs, their catalog, staging, kept samples.

``open_store`` gives a ``ForecastStore`` (a local directory, atomic renames and a lock) or an
``ObjectForecastStore`` (an fsspec URL). ``schema`` builds a run's published Dataset from its
folded statistics; ``samples`` owns the layout of per-simulation samples. The layout is a
versioned public contract: docs/store.md.
"""

from __future__ import annotations

import json
import os
from typing import Any

from alliance_risk.pipeline.store.local import (
    PRODUCT_KINDS,
    STORE_FORMAT,
    ForecastStore,
    StoreAccessError,
    StoreError,
    TransientStoreError,
    new_run_id,
)
from alliance_risk.pipeline.store.objects import ObjectForecastStore


def open_store(
    store: str | os.PathLike | ForecastStore,
    create: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> ForecastStore:
    """The store at a local path or an fsspec URL (``s3://bucket/forecasts.zarr``).

    ``storage_options`` (credentials, endpoint) go to the fsspec filesystem; when not given,
    they are read as JSON from ``$ALLIANCE_RISK_STORAGE_OPTIONS``.
    """
    if isinstance(store, ForecastStore):
        return store
    text = str(store)
    if "://" in text and not text.startswith("file://"):
        if storage_options is None:
            storage_options = _env_storage_options()
        return ObjectForecastStore(text, create, storage_options)
    return ForecastStore(text, create)


def _env_storage_options() -> dict[str, Any]:
    raw = os.environ.get("ALLIANCE_RISK_STORAGE_OPTIONS", "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StoreError(f"ALLIANCE_RISK_STORAGE_OPTIONS is not valid JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise StoreError("ALLIANCE_RISK_STORAGE_OPTIONS must be a JSON object")
    return options


__all__ = [
    "PRODUCT_KINDS",
    "STORE_FORMAT",
    "ForecastStore",
    "ObjectForecastStore",
    "StoreAccessError",
    "StoreError",
    "TransientStoreError",
    "new_run_id",
    "open_store",
]
