"""Test-wide setup: CUDA kernels run in numba's simulator unless a real GPU run asks otherwise.

The variable must be set before anything imports ``numba.cuda``. Set
``NUMBA_ENABLE_CUDASIM=0`` in the environment to run the CUDA tests on a real GPU.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
