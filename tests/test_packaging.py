"""The installed distribution: one top-level import package, alliance_risk."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from importlib.metadata import distributions


def _installed():
    """The installed distribution (not the checkout's alliance_risk.egg-info, which the
    current directory would put first)."""
    paths = [*site.getsitepackages(), site.getusersitepackages()]
    (dist,) = distributions(name="alliance-risk", path=paths)
    return dist


def test_the_distribution_installs_one_top_level_package():
    dist = _installed()
    assert dist.read_text("top_level.txt").split() == ["alliance_risk"]
    names = set()
    for f in dist.files or []:
        top = f.parts[0]
        if top.endswith((".dist-info", ".pth")) or top.startswith(("__editable__", "..")):
            continue  # metadata, the editable-install hook, console scripts
        if top == "__pycache__":  # the editable hook's own bytecode
            assert all(p.startswith("__editable__") for p in f.parts[1:]), f
            continue
        names.add(top.removesuffix(".py"))
    assert names <= {"alliance_risk"}, names


def test_generic_names_do_not_import_from_outside_the_checkout(tmp_path):
    """From any other directory, `models`, `pipeline` and `flows` are not importable (nothing
    generic in site-packages), and the three layers are, under alliance_risk."""
    code = (
        "import importlib.util as u, json\n"
        "import alliance_risk.models, alliance_risk.pipeline.api, alliance_risk.flows\n"
        "print(json.dumps([u.find_spec(n) is None for n in ('models', 'pipeline', 'flows')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, True, True]


def test_the_console_script_is_the_flows_prestart_entry():
    """``alliance-risk`` enters through ``flows.prestart`` (Prefect's ephemeral server
    launched first for a flow command), which then runs the pipeline's command line."""
    (script,) = [e for e in _installed().entry_points if e.group == "console_scripts"]
    assert (script.name, script.value) == ("alliance-risk", "alliance_risk.flows.prestart:entry")
    module, function = script.value.split(":")
    code = f"import sys; sys.argv[1:] = ['scenarios']; import {module} as m; m.{function}()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "nato-2025" in out.stdout, out.stderr
