"""``import warpkit`` stays cheap: it compiles no kernel and leaves the image-file library
(imageio, ~50 ms to import) to the first read or write."""

from __future__ import annotations

import subprocess
import sys

SNIPPET = """
import sys
from numba.core.dispatcher import Dispatcher
import warpkit
from warpkit import io
from warpkit.backends import cpu
from warpkit.backends._cpu import workers
print("imageio loaded:", any(m.split(".")[0] == "imageio" for m in sys.modules))
compiled = [name for module in (cpu, workers) for name, f in vars(module).items()
            if isinstance(f, Dispatcher) and f.signatures]
print("compiled:", compiled)
io._imageio()
print("imageio after the first use:", "imageio.v3" in sys.modules)
"""


def test_import_compiles_nothing_and_defers_imageio():
    result = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "imageio loaded: False",
        "compiled: []",
        "imageio after the first use: True",
    ], result.stdout
