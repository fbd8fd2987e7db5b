"""Where the fused step spends its time, line by line (Linux; needs ``perf`` and ``objdump``).

Samples the fused step on nato-2025 with ``perf record`` (software clock, DWARF call stacks)
while it runs compiled with line tables (numba's debug info; same optimisation, bounds
checks off) and charges each sample to the source line it falls in: a line of
models/fused.py, models/innovations.py or models/equations.py (their functions are inlined
into the step), calls into libm to the line that made them. numba's line tables name the
outer function's file for inlined code, so the step runs from a copy of models/ in which
innovations.py starts at line 2000 and equations.py at line 4000: the line number tells
the file. Samples outside the step (numpy's block transcendentals, Python) are summed by
library. A profile, not a benchmark: shares of samples, not speeds.

    python benchmarks/profile_kernel.py [--sims 1024] [--seconds 5] [--top 40] [--summaries]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"
SHIFT = {"innovations.py": 2000, "equations.py": 4000}  # first line of each in the copy
_FUTURE = "from __future__ import annotations\n"
# the software clock (no hardware counters in most VMs), 2 kHz, stacks unwound with DWARF
# (libm has no frame pointers): calls into libm are charged to their callers
PERF_RECORD = [
    "perf",
    "record",
    "-q",
    "-e",
    "cpu-clock",
    "-F",
    "2000",
    "--call-graph",
    "dwarf,1024",
]


def debug_copy(root: Path) -> None:
    """models/ into root/alliance_risk/models, with the line shifts and the step's debug info."""
    dst = root / "alliance_risk" / "models"
    shutil.copytree(MODELS, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for name, first in SHIFT.items():
        text = (dst / name).read_text()
        cut = text.index(_FUTURE) + len(_FUTURE)  # padding after it: line ``first`` is next
        (dst / name).write_text(text[:cut] + "\n" * (first - _header_lines(name) - 2) + text[cut:])
    fused = (dst / "fused.py").read_text()
    # the step's decorators (_jit, _part): line tables, no bounds checks, not cached
    fused, n = re.subn(
        r"(?m)^([ \t]+.*)_nrt=False\b", r"\1_nrt=False, debug=True, boundscheck=False", fused
    )
    if n != 2:
        raise SystemExit("profile_kernel: fused.py's decorators changed; update debug_copy()")
    (dst / "fused.py").write_text(fused.replace("cache=True", "cache=False"))


def child(sims: int, seconds: float, out: Path, summaries: bool) -> None:
    """Runs in the debug copy: warm the step, save its object code, simulate under perf."""
    from alliance_risk.models import fused
    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.sampling import sample_parameters
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.outputs import BURDEN_BINS

    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, sims, np.random.default_rng(1))
    bins = BURDEN_BINS if summaries else None

    def run() -> None:  # the kernel, in its chunks (the copy's fused step), bare or as a block
        simulate(sc, params, np.random.default_rng(2), member_summary=bins)

    run()
    cres = next(iter(fused._step.overloads.values()))
    (out / "step.o").write_bytes(cres.library._get_compiled_object())
    address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    (out / "step.json").write_text(json.dumps({"address": address}))
    perf = subprocess.Popen(
        [*PERF_RECORD, "-p", str(os.getpid()), "-o", str(out / "perf.data")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # perf attaches
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        run()
    perf.send_signal(2)
    perf.wait()


def line_table(obj: Path) -> tuple[list[int], dict[int, int | None]]:
    """Offsets of the step's instructions (from its start) and their source lines."""
    dis = subprocess.run(
        ["objdump", "-d", "-l", "--no-show-raw-insn", str(obj)], capture_output=True, text=True
    ).stdout.splitlines()
    start = next(i for i, s in enumerate(dis) if s.endswith(">:") and "5_stepB" in s)
    offset0, line, table = int(dis[start].split()[0], 16), None, {}
    for s in dis[start + 1 :]:
        if s.endswith(">:"):
            break
        if m := re.match(r"^/\S+:(\d+)", s):
            line = int(m.group(1))
        elif m := re.match(r"^\s+([0-9a-f]+):", s):
            table[int(m.group(1), 16) - offset0] = line
    return sorted(table), table


@functools.cache
def _header_lines(name: str) -> int:
    """Lines of a module before its ``from __future__`` line (the copy's padding goes after)."""
    text = (MODELS / name).read_text()
    return text[: text.index(_FUTURE)].count("\n")


def where(line: int | None) -> tuple[str, int]:
    """(file, line) of a line of the debug copy (called once per sample)."""
    if line is None:
        return "?", 0
    for name, first in sorted(SHIFT.items(), key=lambda x: -x[1]):
        if line >= first:
            return name, line - first + _header_lines(name) + 2
    return "fused.py", line


def attribute(work: Path) -> tuple[int, collections.Counter, collections.Counter]:
    """Samples in all; per (file, line, callee) inside the step; per library outside it."""
    address = json.loads((work / "step.json").read_text())["address"]
    offsets, table = line_table(work / "step.o")
    script = subprocess.run(
        ["perf", "script", "-i", str(work / "perf.data")], capture_output=True, text=True
    ).stdout
    inside: collections.Counter = collections.Counter()
    outside: collections.Counter = collections.Counter()
    total = 0
    for sample in script.split("\n\n"):
        frames = [f.split() for f in sample.strip().splitlines()[1:] if f.strip()]
        if not frames:
            continue
        total += 1
        for depth, frame in enumerate(frames):
            off = int(frame[0], 16) - address
            if 0 <= off <= offsets[-1]:
                line = table[offsets[bisect.bisect_right(offsets, off) - 1]]
                callee = frames[0][1].split("+")[0] if depth else ""
                inside[(*where(line), callee)] += 1
                break
        else:
            outside[Path(frames[0][-1].strip("()")).name] += 1
    return total, inside, outside


def report(total: int, inside: collections.Counter, outside: collections.Counter, top: int):
    texts = {f: (MODELS / f).read_text().splitlines() for f in ("fused.py", *SHIFT)}
    step = sum(inside.values())
    print(f"{total} samples; in the fused step (and what it calls): {step / total:.1%}")
    by_file: collections.Counter = collections.Counter()
    for (name, _, callee), n in inside.items():
        by_file[name + (f" -> {callee}" if callee else "")] += n
    for name, n in by_file.most_common(10):
        print(f"  {n / total:6.1%}  {name}")
    print("outside the step, by library:")
    for name, n in outside.most_common(6):
        print(f"  {n / total:6.1%}  {name}")
    print(f"the {top} hottest lines (share of all samples):")
    for (name, line, callee), n in inside.most_common(top):
        src = texts[name][line - 1].strip() if 0 < line <= len(texts.get(name, [])) else ""
        print(f"  {n / total:6.2%}  {name}:{line:<4} {callee[:16]:<16} {src[:72]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1024, help="per simulate call")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument(
        "--summaries", action="store_true", help="with the member summaries a block computes"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.sims, args.seconds, Path(args.child), args.summaries)
        return
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"profile_kernel: needs {tool!r} on PATH (Linux perf, binutils)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        debug_copy(work)
        env = {**os.environ, "PYTHONPATH": str(work), "NUMBA_NUM_THREADS": "1"}
        cmd = [sys.executable, __file__, "--child", tmp, "--sims", str(args.sims)]
        cmd += ["--summaries"] * args.summaries
        subprocess.run([*cmd, "--seconds", str(args.seconds)], env=env, check=True)
        if not (work / "perf.data").exists():
            raise SystemExit("profile_kernel: perf recorded nothing (perf_event_paranoid?)")
        report(*attribute(work), args.top)


if __name__ == "__main__":
    main()
