"""A/B timing of the CPU kernels: a git revision's (A) against the working tree's (B).

The machines of this project drift by up to 2x within minutes, so a change is measured only
against the code before it, side by side: both versions are loaded into one process (A as a
copy of the revision's package under another name, from ``git archive``), compiled into one
fresh numba cache, and called directly (no validation or allocation on the way) in alternating
order, round after round. Prints each workload's medians, B/A, and whether the two produced the
same outputs bit for bit.

    python benchmarks/ab_kernels.py HEAD~1 --workloads W1,W1u8 --rounds 30

``--busy 1`` runs another process on CPU 1 for the whole comparison, busy for 1 ms and asleep
for 1 ms in turn, as a machine shared with other work is (how a thread held up mid-call costs
each version: see ``backends/_cpu/schedule.py``). Linux only.

``--cold`` reads 64 MB before every timed call (outside the timing), so that each call finds
its input and output in memory rather than in the caches, as in the suite, where other
implementations run between two of warpkit's calls.

``--pause MS`` keeps the calling thread busy for MS milliseconds before every timed call
(outside the timing) while the kernels' worker threads sleep, as a pipeline that does other
work between two warps does: each call then wakes a worker that has been idle that long.

``--env-a KEY=VALUE`` (repeatable) imports A with that environment variable set, B without:
with the revision ``HEAD`` and a clean tree, an A/B of a choice read at import, e.g.
``--env-a WARPKIT_GATHER_BLOCKS=1`` for gathers against this processor's default.

Workloads: those of ``kernel_workloads.py`` (W1, W1u8, W1u16, RGBAu8, W1f64, grey f32, grey u8,
grey u16, grey f64, W3, W3f64, W2fwd, W2bwd, W1bwd, B32u8, B28u8 and more: see there). Run it
in a fresh shell with ``PYTHONHASHSEED=1`` to compare like with like (numba's code once
depended on the hash seed, see ``_backward_pass_overload``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import io
import itertools
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from kernel_workloads import workloads

REPO = Path(__file__).resolve().parents[1]
_names = itertools.count()  # each copy is imported under a package name of its own


def snapshot(rev: str, into: Path, repo: Path = REPO) -> ModuleType:
    """Extract ``warpkit/`` at git revision ``rev`` into ``into`` as a package named
    ``warpkit_ab<k>`` and import its CPU kernels (``warpkit_ab<k>.backends.cpu``). Raises
    ``ValueError`` naming the revision when git cannot produce it."""
    result = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev, "warpkit"],
                            capture_output=True)
    if result.returncode != 0:
        raise ValueError(f"git archive of revision {rev!r} failed: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        # our own repository's files; the "data" filter where this Python has it (3.10.12+)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, **safe)
    name = f"warpkit_ab{next(_names)}"
    (into / "warpkit").rename(into / name)
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{name}.backends.cpu")


#: What ``--cold`` reads before every timed call: twice the 32 MB L3 cache of this project's
#: machines.
EVICT_BYTES = 64 << 20

#: The other process of ``--busy``: 1 ms of work, 1 ms of sleep, until killed.
DUTY_CYCLE = """
import time
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < 0.001:
        pass
    time.sleep(0.001)
"""


def busy_neighbour(cpu: int) -> contextlib.AbstractContextManager:
    """A context in which a process pinned to ``cpu`` is busy half the time
    (:data:`DUTY_CYCLE`); it yields the process (a ``subprocess.Popen``) and kills it on the
    way out. Raises ``ValueError`` for a CPU this process may not run on."""
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise ValueError(f"CPU {cpu} is not one this process may run on: {sorted(allowed)}")
    return _pinned([sys.executable, "-c", DUTY_CYCLE], cpu)


@contextlib.contextmanager
def _pinned(cmd: list[str], cpu: int):
    proc = subprocess.Popen(cmd)
    try:
        os.sched_setaffinity(proc.pid, {cpu})
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _busy_for(seconds: float, work: np.ndarray) -> None:
    """Keep this thread busy for ``seconds`` with numpy sums of ``work`` (one thread)."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        work.sum()


def compare(a: ModuleType, b: ModuleType, names: list[str], rounds: int,
            cold: bool = False, pause_ms: float = 0.0) -> None:
    """Time workloads ``names`` with kernel modules ``a`` and ``b`` interleaved and print them.
    With ``cold``, every timed call comes after a read of :data:`EVICT_BYTES` (untimed), so
    that it finds neither its input nor its output in the caches; with ``pause_ms``, after
    that long of work on this thread alone (untimed)."""
    rng = np.random.default_rng(0)
    evict = np.ones(EVICT_BYTES // 8) if cold else None
    work = np.ones(1 << 15)  # 256 KB: sums that stay in this core's cache
    table = workloads(rng)
    for name in names:
        make = table[name]()
        (run_a, out_a), (run_b, out_b) = make(a), make(b)
        start = time.perf_counter()
        run_a()
        run_b()
        compile_s = time.perf_counter() - start
        same = all(np.array_equal(x, y, equal_nan=True) for x, y in zip(out_a, out_b, strict=True))
        times_a, times_b = [], []
        for r in range(rounds):
            pairs = [(run_a, times_a), (run_b, times_b)]
            for run, times in pairs if r % 2 == 0 else pairs[::-1]:
                if evict is not None:
                    evict.sum()
                if pause_ms > 0:
                    _busy_for(pause_ms / 1e3, work)
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
        ma, mb = np.median(times_a), np.median(times_b)
        print(f"{name:9s} A {ma * 1e3:7.2f} ms  B {mb * 1e3:7.2f} ms  B/A {mb / ma:.3f}  "
              f"same={same}  (first calls {compile_s:.0f} s)", flush=True)


def main() -> None:
    # an empty numba cache, set before numba is imported: both versions compile afresh
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="warpkit-ab-cache-")
    atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)
    names = list(workloads(np.random.default_rng(0)))  # imports warpkit
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the git revision to compare against (A), e.g. HEAD")
    parser.add_argument("--workloads", default="W1,W1u8,W1f64,W3,W2fwd,W2bwd",
                        help=f"comma-separated, of: {', '.join(names)}")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--busy", type=int, metavar="CPU",
                        help="keep CPU busy half the time with another process meanwhile")
    parser.add_argument("--cold", action="store_true",
                        help=f"read {EVICT_BYTES >> 20} MB before every timed call, so that "
                        "each finds its data in memory rather than in the caches")
    parser.add_argument("--env-a", action="append", default=[], metavar="KEY=VALUE",
                        help="set this environment variable while importing A (not B)")
    parser.add_argument("--pause", type=float, default=0.0, metavar="MS",
                        help="keep this thread busy MS ms before every timed call (the "
                        "workers idle meanwhile)")
    args = parser.parse_args()
    try:
        neighbour = contextlib.nullcontext() if args.busy is None else busy_neighbour(args.busy)
    except ValueError as e:
        parser.error(f"--busy: {e}")
    env_a = dict(kv.split("=", 1) for kv in args.env_a if "=" in kv)
    if len(env_a) != len(args.env_a):
        parser.error(f"--env-a: expected KEY=VALUE, got {args.env_a}")
    chosen = args.workloads.split(",")
    unknown = [n for n in chosen if n not in names]
    if unknown:
        parser.error(f"unknown workloads {unknown}; expected some of {names}")
    with tempfile.TemporaryDirectory(prefix="warpkit-ab-") as tmp:
        saved = {k: os.environ.get(k) for k in env_a}
        os.environ.update(env_a)
        try:
            a = snapshot(args.rev, Path(tmp))
        except ValueError as e:
            parser.error(str(e))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k)
                else:
                    os.environ[k] = v
        from warpkit.backends import cpu as b

        print(f"A: {args.rev} ({a.__file__}){''.join(f' {k}={v}' for k, v in env_a.items())}; "
              f"B: the working tree ({b.__file__})")
        with neighbour:
            if args.busy is not None:
                print(f"another process busy half the time on CPU {args.busy}")
            compare(a, b, chosen, args.rounds, args.cold, args.pause)


if __name__ == "__main__":
    main()
