"""Country outlines for the map panel and the report's map figure.

``data/countries.json`` is Natural Earth's 1:110m Admin 0 countries (public domain), cut to
North America, Europe and its neighbours (``data/build_geometry.py`` says how it was made).
Coordinates are projected with an equirectangular projection true at 50°N, which keeps
Europe's shapes recognisable without a projection library.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

import numpy as np

STANDARD_PARALLEL = 50.0
VIEW = (-128.0, 24.0, 48.0, 72.0)  # lon_min, lat_min, lon_max, lat_max shown by default


@cache
def countries() -> dict[str, dict]:
    """code -> {"name", "rings", "x", "y"}: projected outlines, as a list of (x, y) rings
    (matplotlib's polygons) and as one x and one y list with NaN between rings (Bokeh's
    multi-part patches)."""
    doc = json.loads(
        (files("alliance_risk.pipeline.apps") / "data" / "countries.json").read_text("utf-8")
    )
    out = {}
    for c in doc["countries"]:
        rings = [project(np.array(r["lon"]), np.array(r["lat"])) for r in c["rings"]]
        xs, ys = [], []
        for x, y in rings:
            xs += [*x.tolist(), np.nan]
            ys += [*y.tolist(), np.nan]
        out[c["code"]] = {"name": c["name"], "rings": rings, "x": xs[:-1], "y": ys[:-1]}
    return out


def project(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular, true at ``STANDARD_PARALLEL`` (degrees in, degrees-like units out)."""
    return lon * np.cos(np.radians(STANDARD_PARALLEL)), lat


def view_box() -> tuple[tuple[float, float], tuple[float, float]]:
    """((x_min, x_max), (y_min, y_max)) of the default view."""
    (x0, x1), (y0, y1) = project(np.array(VIEW[0::2]), np.array(VIEW[1::2]))
    return (float(x0), float(x1)), (float(y0), float(y1))
