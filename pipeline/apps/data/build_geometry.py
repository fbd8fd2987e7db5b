r"""Build ``countries.json``, the dashboard's and report's map geometry, from Natural Earth.

Source: Natural Earth 1:110m Cultural Vectors, Admin 0 - Countries (public domain,
https://www.naturalearthdata.com/about/terms-of-use/), as bundled by geopandas 0.14.4 in
``geopandas/datasets/naturalearth_lowres``. One-off, with pyshp (not a dependency):
    pip download --no-deps geopandas==0.14.4
    unzip geopandas-0.14.4-*.whl 'geopandas/datasets/*'
    pip install pyshp
    python pipeline/apps/data/build_geometry.py \
        geopandas/datasets/naturalearth_lowres/naturalearth_lowres
It keeps the countries with a point in longitude -170..70, latitude 20..85 (North America,
Europe and its neighbours; the plots clip to their view), rounds coordinates to 0.01° and
writes one record per country: ISO 3166-1 alpha-3 code, name, and its rings (longitudes,
latitudes).
"""

import itertools
import json
import sys
from pathlib import Path

import shapefile  # pyshp

OUT = Path(__file__).parent / "countries.json"
BOX = (-170.0, 20.0, 70.0, 85.0)  # lon_min, lat_min, lon_max, lat_max


def _rings(shape) -> list[list[tuple[float, float]]]:
    bounds = [*shape.parts, len(shape.points)]
    return [shape.points[a:b] for a, b in itertools.pairwise(bounds)]


def main(path: str) -> None:
    reader = shapefile.Reader(path, encoding="latin1")
    countries = []
    for rec, shape in zip(reader.records(), reader.shapes(), strict=True):
        code = rec["iso_a3"] if rec["iso_a3"] != "-99" else rec["name"][:3].upper()
        rings = []
        for ring in _rings(shape):
            lon = [round(x, 2) for x, _ in ring]
            lat = [round(y, 2) for _, y in ring]
            inside = [BOX[0] <= x <= BOX[2] and BOX[1] <= y <= BOX[3] for x, y in ring]
            if any(inside):  # the plots clip to the box
                rings.append({"lon": lon, "lat": lat})
        if rings:
            countries.append({"code": code, "name": rec["name"], "rings": rings})
    doc = {
        "source": "Natural Earth 1:110m Admin 0 - Countries (public domain), via geopandas "
        "0.14.4 naturalearth_lowres; built by pipeline/apps/data/build_geometry.py",
        "crs": "EPSG:4326 (longitude, latitude in degrees)",
        "countries": sorted(countries, key=lambda c: c["code"]),
    }
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(countries)} countries, {OUT.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1])
