"""Profile the CPU kernels with Linux ``perf``, by function of warpkit's compiled code.

``perf`` sees numba's machine code as anonymous memory; this script compiles the kernels of
one workload afresh (into an empty numba cache, since code loaded from the cache carries no
function names), writes ``/tmp/perf-<pid>.map`` (the file in which ``perf`` looks up the
functions of JIT-compiled code) and then runs the workload in a loop. The VMs of this project
have no hardware counters, so sample on the clock:

    perf record -e cpu-clock -o perf.data python benchmarks/profile_kernels.py W1u8
    perf report -i perf.data --no-children --sort sym

With ``--dump NAME`` the machine code of every function whose name contains NAME is written
to ``/tmp/warpkit-code-<k>.bin`` (with its address in the output), for
``objdump -D -b binary -m i386:x86-64 --adjust-vma=<address>`` next to
``perf script -F ip,sym``'s samples. Bench-only: needs ``perf`` on the machine.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import shutil
import tempfile
import time

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="warpkit-profile-")
atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from kernel_workloads import workloads  # noqa: E402

from warpkit.backends import cpu  # noqa: E402
from warpkit.backends._cpu import backward, gather, workers  # noqa: E402

#: Every kernel, worker and function called through an address that a workload may compile
#: (their functions go into the perf map; a kernel calls its worker through an address, so the
#: row code is in the worker's library, a single image's backward scatter and the gather of float
#: rows of other than 3 channels in their own).
DISPATCHERS = (cpu._affine_sample, cpu._affine_sample_int, cpu._grid_sample,
               cpu._affine_sample_backward, cpu._grid_sample_backward, workers.affine_worker,
               workers.affine_int_worker, workers.grid_worker, workers.affine_backward_worker,
               workers.grid_backward_worker, backward._scatter_band, gather.gather_one,
               gather.gather_four, gather.gather_any)


def write_perf_map(dispatchers) -> dict[int, tuple[int, str]]:
    """Write ``/tmp/perf-<pid>.map`` for every function compiled for ``dispatchers``; returns
    {address: (size, name)}. A function's size is taken as the distance to the next one."""
    names = {}
    for dispatcher in dispatchers:
        for cres in dispatcher.overloads.values():
            library = cres.library
            for fn in library._final_module.functions:
                if not fn.is_declaration:
                    address = library.get_pointer_to_function(fn.name)
                    if address:
                        names[address] = fn.name
    addresses = sorted(names)
    ends = addresses[1:] + [addresses[-1] + 4096]
    table = {a: (min(e - a, 1 << 20), names[a]) for a, e in zip(addresses, ends, strict=True)}
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as f:
        for a, (size, name) in table.items():
            f.write(f"{a:x} {size:x} {name}\n")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    table = workloads(np.random.default_rng(0))
    parser.add_argument("workload", choices=sorted(table))
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dump", default=None, help="write the code of functions named so")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    run, _ = table[args.workload]()(cpu)
    run()  # compiles
    table = write_perf_map(DISPATCHERS)
    print(f"{len(table)} functions in /tmp/perf-{os.getpid()}.map")
    if args.dump:
        dumped = [(a, s, n) for a, (s, n) in table.items() if args.dump in n]
        for k, (a, size, name) in enumerate(dumped):
            with open(f"/tmp/warpkit-code-{k}.bin", "wb") as f:
                f.write(ctypes.string_at(a, size))
            print(f"/tmp/warpkit-code-{k}.bin at 0x{a:x}: {name[:100]}")
    t = time.perf_counter()
    for _ in range(args.calls):
        run()
    print(f"{args.workload}: {(time.perf_counter() - t) / args.calls * 1e3:.3f} ms a call")


if __name__ == "__main__":
    main()
