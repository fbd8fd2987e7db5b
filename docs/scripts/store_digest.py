"""Digest of every published run in an alliance-risk store: sha256 of each array's decoded
values and of its attributes, without the attributes that name the run (run_id, created,
package_version). Two stores made by the same runs agree line by line."""

import hashlib
import json
import sys

import numpy as np
import zarr

VOLATILE = {"run_id", "created", "package_version", "extends"}


def walk(group, prefix=""):
    for name, node in sorted(group.members()):
        path = f"{prefix}/{name}"
        attrs = {k: v for k, v in node.attrs.items() if k not in VOLATILE}
        a = hashlib.sha256(json.dumps(attrs, sort_keys=True, default=str).encode()).hexdigest()
        if isinstance(node, zarr.Array):
            v = np.asarray(node[...])
            data = v.astype(str).tobytes() if v.dtype == object else v.tobytes()
            yield f"{path} {v.dtype} {v.shape} {hashlib.sha256(data).hexdigest()[:16]} {a[:12]}"
        else:
            yield f"{path}/ {a[:12]}"
            yield from walk(node, path)


root = zarr.open_group(sys.argv[1], mode="r")
for entry in root.attrs["catalog"]:
    g = zarr.open_group(f"{sys.argv[1]}/runs/{entry['run_id']}", mode="r")
    attrs = {k: v for k, v in g.attrs.items() if k not in VOLATILE}
    print(
        entry["scenario"],
        entry["sampler"],
        entry["sims"],
        hashlib.sha256(json.dumps(attrs, sort_keys=True, default=str).encode()).hexdigest()[:12],
    )
    for line in walk(g):
        print("  " + line)
