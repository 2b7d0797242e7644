"""Benchmark suite: warpkit against OpenCV, scikit-image, SciPy and PyTorch CPU.

Used by ``benchmarks/bench_suite.py`` (full run, JSON + chart) and ``warpkit bench`` (quick
run). Timings of competing implementations are interleaved (A B A B ...) so that both see the
same machine state, and reported as medians with the ratio to warpkit. A peer that is not
importable is reported as missing and skipped.

Workloads (issue "Performance"):

* W1: one 1024x1024x3 float32 image, rotate 30 deg + scale 0.9 about the centre, bilinear,
  zero padding; W1u8 the same in uint8.
* W2: an STN training step, (256, 60, 60, 1) float32, forward + backward (dU and dθ).
* W3: batch forward, (64, 224, 224, 3) float32, random affine θ.
* Variants of W1 for warpkit alone: nearest, border, reflection, float64.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import warpkit

try:
    import resource
except ImportError:  # not on Windows
    resource = None


@dataclass
class Result:
    """Median seconds of each implementation of one workload."""

    workload: str
    description: str
    times: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    peak_bytes: int | None = None
    output_bytes: int | None = None
    #: Median minor page faults of a call (new memory mapped and zeroed by the kernel), where
    #: the platform counts them (``resource``)
    faults: dict[str, float] = field(default_factory=dict)

    def ratios(self) -> dict[str, float]:
        """Time of every implementation divided by warpkit's."""
        base = self.times.get("warpkit")
        return {k: v / base for k, v in self.times.items()} if base else {}


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any import failure means the peer is unavailable
        return None


def interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                faults: dict[str, float] | None = None) -> dict[str, float]:
    """Median wall time of each function, run in turns after one warm-up: every round runs
    each function once, in an order shuffled anew (seeded), so that no function always runs
    right after the same other one. A fixed order A B C A B C ... hands B the caches that A
    has just filled with the same input (and A those of the slowest peer, which evicts it).

    With a ``faults`` dict, the median minor page faults of each function's calls go into it
    (where :mod:`resource` counts them): a call that maps new memory pays for zeroing it, and
    whether it does depends on what ran before it (malloc gives freed memory back to the
    kernel past a threshold)."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    counts: dict[str, list[int]] = {k: [] for k in fns}
    names = list(fns)
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        for i in rng.permutation(len(names)):
            before = _minor_faults()
            t0 = time.perf_counter()
            fns[names[i]]()
            samples[names[i]].append(time.perf_counter() - t0)
            counts[names[i]].append(_minor_faults() - before)
    if faults is not None and resource is not None:
        faults.update({k: float(np.median(v)) for k, v in counts.items()})
    return {k: float(np.median(v)) for k, v in samples.items()}


def _minor_faults() -> int:
    """The process's minor page faults so far (0 where :mod:`resource` is missing)."""
    return 0 if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes traced by ``tracemalloc`` (numpy allocations) during one call."""
    fn()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def host_cpu() -> str:
    """The CPU model and LLVM's name for the micro-architecture numba compiles for (the host's,
    or ``NUMBA_CPU_NAME``: :func:`warpkit._tuning.target_cpu`), e.g. ``"AMD EPYC (znver4)"``;
    timings are only comparable on one."""
    from ._tuning import target_cpu

    name = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                        name)
    except OSError:
        pass
    return f"{name or 'unknown CPU'} ({target_cpu()})"


def rotation_theta(angle_deg: float, scale: float, n: int = 1) -> np.ndarray:
    """θ (n, 2, 3) rotating by ``angle_deg`` counter-clockwise and scaling about the centre.

    For a square image the normalized coordinates are isotropic, so the pixel map
    ``x_in = R(-angle) (x_out - c) / scale + c`` is the same matrix in normalized terms.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a) / scale, math.sin(a) / scale
    # OpenCV's forward map for a counter-clockwise turn (rows point down) is
    # scale * [[cos, sin], [-sin, cos]]; θ is its inverse.
    theta = np.array([[c, -s, 0.0], [s, c, 0.0]])
    return np.repeat(theta[None], n, axis=0)


def opencv_rotation_matrix(cv2, theta: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine``'s 2x3 forward map for a θ of :func:`rotation_theta` on an image of
    ``shape`` (H, W): the inverse of θ's pixel-space map, a turn and a scale about the centre."""
    H, W = shape
    a = math.degrees(math.atan2(-theta[0, 0, 1], theta[0, 0, 0]))
    scale = 1.0 / math.hypot(theta[0, 0, 0], theta[0, 0, 1])
    return cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), a, scale)


def _w1_peers(img: np.ndarray, theta: np.ndarray, torch_threads: int) -> dict:
    H, W = img.shape[:2]
    fns: dict[str, Callable[[], object]] = {}
    missing: list[str] = []
    cv2 = _optional("cv2")
    if cv2 is not None:
        M = opencv_rotation_matrix(cv2, theta, (H, W))
        fns["opencv"] = lambda: cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LINEAR)
    else:
        missing.append("opencv")
    torch = _optional("torch")
    if torch is not None and img.dtype != np.uint8:
        torch.set_num_threads(torch_threads)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
        t = torch.from_numpy(theta.astype(img.dtype))
        F = torch.nn.functional

        def run_torch():
            grid = F.affine_grid(t, list(x.shape), align_corners=False)
            return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False)

        fns["pytorch"] = run_torch
    elif torch is None:
        missing.append("pytorch")
    skt = _optional("skimage.transform")
    if skt is not None:
        M_inv = warpkit_matrix(theta[0], (H, W))
        tform = skt.AffineTransform(matrix=M_inv)
        fns["scikit-image"] = lambda: skt.warp(img, tform, order=1, preserve_range=True)
    ndi = _optional("scipy.ndimage")
    if ndi is not None and img.dtype != np.uint8:
        M_inv = warpkit_matrix(theta[0], (H, W))
        # scipy works in (row, col): swap the axes of the pixel map.
        P = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
        Mrc = P @ M_inv @ P
        mat = np.zeros((4, 4))
        mat[:2, :2] = Mrc[:2, :2]
        mat[:2, 3] = Mrc[:2, 2]
        mat[2, 2] = mat[3, 3] = 1.0
        fns["scipy"] = lambda: ndi.affine_transform(img, mat, order=1, prefilter=False)
    elif ndi is None:
        missing.append("scipy")
    return {"fns": fns, "missing": missing}


def warpkit_matrix(theta: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """3x3 pixel-space inverse map (output (x, y) -> input (x, y)) of θ, align_corners=False."""
    H, W = shape
    # pixel = ((x + 1) W - 1) / 2  <=>  x = (2 pixel + 1) / W - 1
    to_norm = np.array([[2.0 / W, 0, 1.0 / W - 1], [0, 2.0 / H, 1.0 / H - 1], [0, 0, 1]])
    to_pix = np.linalg.inv(to_norm)
    T = np.vstack([theta, [0, 0, 1]])
    return to_pix @ T @ to_norm


def bench_w1(dtype=np.float32, repeats: int = 15, size: int = 1024, torch_threads: int = 2):
    """W1 (float32) or W1u8 (uint8): one rotated and scaled image."""
    rng = np.random.default_rng(0)
    img = rng.random((size, size, 3), dtype=np.float32)
    if dtype == np.uint8:
        img = (img * 255).astype(np.uint8)
    theta = rotation_theta(30.0, 0.9)
    peers = _w1_peers(img, theta, torch_threads)
    fns = {"warpkit": lambda: warpkit.warp(img, theta[0])} | peers["fns"]
    name = "W1u8" if dtype == np.uint8 else "W1"
    res = Result(name, f"{size}x{size}x3 {np.dtype(dtype).name}, rotate 30 + scale 0.9",
                 missing=peers["missing"])
    res.times = interleaved(fns, repeats, res.faults)
    res.peak_bytes = peak_memory(fns["warpkit"])
    res.output_bytes = img.nbytes
    return res


def w2_arrays(n: int = 256, size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """W2's images (n, size, size, 1) and θ (n, 2, 3), float32: turned 10°, scaled 0.9, with
    noise (also ``benchmarks/kernel_workloads.py``'s W2sfwd and W2sbwd)."""
    rng = np.random.default_rng(1)
    x = rng.random((n, size, size, 1), dtype=np.float32)
    theta = (rotation_theta(10.0, 0.9, n) + 0.05 * rng.standard_normal((n, 2, 3))).astype(
        np.float32)
    return x, theta


def bench_w2(repeats: int = 15, n: int = 256, size: int = 60, torch_threads: int = 2):
    """W2: STN training step, forward + backward (dU and dθ)."""
    x, theta = w2_arrays(n, size)

    def run_warpkit():
        out = warpkit.affine_sample(x, theta)
        return warpkit.affine_sample_backward(out, x, theta)

    fns: dict[str, Callable[[], object]] = {"warpkit": run_warpkit}
    missing = []
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(torch_threads)
        F = torch.nn.functional
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        tt = torch.from_numpy(theta).requires_grad_(True)

        def run_torch():
            xt.grad = None
            tt.grad = None
            grid = F.affine_grid(tt, list(xt.shape), align_corners=False)
            out = F.grid_sample(xt, grid, align_corners=False)
            out.backward(out.detach())
            return xt.grad, tt.grad

        fns["pytorch"] = run_torch
    else:
        missing.append("pytorch")
    res = Result("W2", f"STN step ({n},{size},{size},1) float32, fwd + bwd", missing=missing)
    res.times = interleaved(fns, repeats, res.faults)
    res.peak_bytes = peak_memory(run_warpkit)
    res.output_bytes = 2 * x.nbytes
    return res


def bench_w3(repeats: int = 7, n: int = 64, size: int = 224, torch_threads: int = 2):
    """W3: batch forward with random affine θ; "warpkit out=" writes into an array it keeps
    (``out=``), without the page faults of a new 38.5 MB output at every call (not the
    target's measure: PyTorch's ``grid_sample`` allocates its output)."""
    rng = np.random.default_rng(2)
    x = rng.random((n, size, size, 3), dtype=np.float32)
    theta = (rotation_theta(0.0, 1.0, n) + 0.2 * rng.standard_normal((n, 2, 3))).astype(
        np.float32)
    kept = np.empty_like(x)
    fns: dict[str, Callable[[], object]] = {
        "warpkit": lambda: warpkit.affine_sample(x, theta),
        "warpkit out=": lambda: warpkit.affine_sample(x, theta, out=kept),
    }
    missing = []
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(torch_threads)
        F = torch.nn.functional
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        tt = torch.from_numpy(theta)

        def run_torch():
            grid = F.affine_grid(tt, list(xt.shape), align_corners=False)
            return F.grid_sample(xt, grid, align_corners=False)

        fns["pytorch"] = run_torch
    else:
        missing.append("pytorch")
    res = Result("W3", f"batch forward ({n},{size},{size},3) float32", missing=missing)
    res.times = interleaved(fns, repeats, res.faults)
    res.peak_bytes = peak_memory(fns["warpkit"])
    res.output_bytes = x.nbytes
    return res


def bench_variants(repeats: int = 15, size: int = 1024):
    """W1 variants for warpkit alone, as ratios to bilinear/zeros/float32.

    Each variant reads an image of its own (copies of one float32 image, and its float64
    version), so that no call finds its input in cache because another variant has just read
    the same array. With one array shared by the four float32 variants, the float32 baseline
    found its input in cache after three of the other four, and float64, whose input no other
    variant reads, measured 1.61x-1.63x its time, against 1.46x-1.48x with copies in the same
    process (two runs each, Zen 4 machine; 1.52x-1.53x with 64 MB read before every call, and
    1.54x-1.57x with each call made twice and the second timed)."""
    rng = np.random.default_rng(0)
    x32 = rng.random((1, size, size, 3), dtype=np.float32)
    x64 = x32.astype(np.float64)
    own = [x32.copy() for _ in range(3)]
    theta = rotation_theta(30.0, 0.9)
    fns = {
        "warpkit": lambda: warpkit.affine_sample(x32, theta),
        "nearest": lambda: warpkit.affine_sample(own[0], theta, mode="nearest"),
        "border": lambda: warpkit.affine_sample(own[1], theta, padding_mode="border"),
        "reflection": lambda: warpkit.affine_sample(own[2], theta, padding_mode="reflection"),
        "float64": lambda: warpkit.affine_sample(x64, theta),
    }
    res = Result("W1-variants", f"{size}x{size}x3 variants, ratio to bilinear/zeros/float32")
    res.times = interleaved(fns, repeats, res.faults)
    return res


COLD_START_CODE = (
    "import time; t0 = time.perf_counter(); import numpy as np, warpkit; "
    "warpkit.warp(np.ones((32, 32), np.float32), np.array([[1.0, 0, 0], [0, 1.0, 0]])); "
    "print(time.perf_counter() - t0)"
)


#: The least any numba package pays in a fresh process with a warm cache: numpy and numba
#: imported, and one cached function loaded, which makes numba set up its compiler (importing
#: scipy.linalg, ~0.4 s, where SciPy is installed, as scikit-image requires).
NUMBA_FLOOR_CODE = """\
import time; t0 = time.perf_counter()
import numpy as np, numba

@numba.njit(cache=True)
def one(x):
    return x + 1.0

one(np.ones(3)); print(time.perf_counter() - t0)
"""


def cold_start(repeats: int = 3) -> Result:
    """``import warpkit`` + the first ``warp()`` of a small image in a fresh process.

    "cold cache" runs with an empty ``NUMBA_CACHE_DIR`` (compiles what is called), "warm
    cache" is the median of ``repeats`` further processes that load the compiled kernels, and
    "numba floor" the median of as many processes that load one cached function of their own
    (:data:`NUMBA_FLOOR_CODE`): what numba itself takes before warpkit's share. Python may
    write its bytecode cache (``PYTHONDONTWRITEBYTECODE`` is dropped), as in a user's
    installation: without it every process compiles warpkit's source again (~50 ms).
    """

    def run(args: list[str], env: dict) -> float:
        out = subprocess.run([sys.executable, *args], env=env, check=True,
                             capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["NUMBA_CACHE_DIR"] = cache
        floor = os.path.join(cache, "numba_floor.py")
        with open(floor, "w") as f:
            f.write(NUMBA_FLOOR_CODE)
        cold = run(["-c", COLD_START_CODE], env)
        run([floor], env)
        warm, bare = [], []
        for _ in range(repeats):  # in turns, as interleaved()
            warm.append(run(["-c", COLD_START_CODE], env))
            bare.append(run([floor], env))
    return Result("cold-start", "import warpkit + first warp() of a 32x32 image, new process",
                  times={"warm cache": float(np.median(warm)), "cold cache": cold,
                         "numba floor": float(np.median(bare))})


def run_suite(quick: bool = False, torch_threads: int = 2) -> list[Result]:
    """All workloads; ``quick`` uses fewer repeats and smaller W3."""
    r = 5 if quick else 15
    return [
        bench_w1(np.float32, r, torch_threads=torch_threads),
        bench_w1(np.uint8, r, torch_threads=torch_threads),
        bench_w2(r, torch_threads=torch_threads),
        bench_w3(3 if quick else 7, n=16 if quick else 64, torch_threads=torch_threads),
        bench_variants(r),
        cold_start(2 if quick else 5),
    ]


def format_table(results: list[Result]) -> str:
    """Plain-text table: median ms and ratio to warpkit for every implementation."""
    lines = [f"{'workload':<12} {'implementation':<14} {'median ms':>10} {'x warpkit':>10} "
             f"{'page faults':>12}"]
    for res in results:
        ratios = res.ratios()
        for name, t in res.times.items():
            ratio = f"{ratios[name]:>10.2f}" if name in ratios else f"{'':>10}"
            faults = f"{res.faults[name]:>12.0f}" if name in res.faults else ""
            lines.append(f"{res.workload:<12} {name:<14} {t * 1e3:>10.2f} {ratio} {faults}")
        for name in res.missing:
            lines.append(f"{res.workload:<12} {name:<14} {'missing':>10}")
        if res.peak_bytes is not None:
            lines.append(
                f"{res.workload:<12} {'peak memory':<14} {res.peak_bytes / 2**20:>9.1f}M "
                f"(outputs {res.output_bytes / 2**20:.1f}M)"
            )
    return "\n".join(lines)


def to_json(results: list[Result]) -> list[dict]:
    """JSON-ready records."""
    return [
        {
            "workload": r.workload,
            "description": r.description,
            "median_seconds": r.times,
            "ratio_to_warpkit": r.ratios(),
            "missing": r.missing,
            "peak_bytes": r.peak_bytes,
            "output_bytes": r.output_bytes,
            "median_page_faults": r.faults,
        }
        for r in results
    ]
