"""numba's on-disk cache, kept fresh when a module that warpkit's kernels compile in changes.

numba stamps a cached kernel with a hash of the one file that defines it. The kernels of
``backends/cpu.py`` also compile code from ``backends/_cpu/``, ``backends/_simd.py`` and
``_coords.py``: after an edit there (or a ``git checkout`` that changes only those files), numba
would load the old machine code from its cache and run it silently. :func:`install` puts a cache
locator in front of numba's own for warpkit's files: it places the cache where numba's locator
would, and adds to the stamp a hash of every warpkit module that the kernel's module refers to,
directly or through those modules, and the choices of :mod:`._tuning` (which an environment
variable can change). A kernel therefore recompiles when any of them changes, and loads from
the cache otherwise. A user's ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces numba's list of
locators, this one included.

numba's cache is not safe against processes that compile the same function for different
signatures at the same time (numba/numba#4807): each reads the function's index, picks the
first free data file name (the same one), and writes its index and data, so the index can end
up naming another signature's machine code, which a later process then loads and runs
(`pytest -n 4` over a user's code, or worker processes started together, with an empty cache).
:func:`install` therefore also makes numba save entries to, and load them from, the cache
folders of warpkit's functions under a lock on a file in that folder (``fcntl.flock``: saves
exclusive, loads shared; where there is no ``fcntl`` or the file cannot be opened, as before).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

from numba.core import caching
from numba.core.caching import _CacheLocator

from . import _tuning

#: numba's base of cache implementations, which holds its list of locators (``_CacheImpl`` in
#: older numba)
CacheImpl = getattr(caching, "CacheImpl", None) or caching._CacheImpl

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_TOP = __name__.partition(".")[0]  # "warpkit" (or what a copy of it is imported as)


def _digest(path: str) -> str:
    """sha256 of a file's bytes (read once per version of the file in a process)."""
    st = os.stat(path)
    return _hashed(path, st.st_mtime_ns, st.st_size)


@functools.cache
def _hashed(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _module_of(value: object) -> ModuleType | None:
    """The warpkit module that defines ``value`` (a module, function, class, numba dispatcher
    or intrinsic), or None."""
    if isinstance(value, ModuleType):
        module = value
    else:
        for attr in ("py_func", "_defn"):  # a dispatcher's Python function, an intrinsic's
            value = getattr(value, attr, value)
        name = getattr(value, "__module__", None)
        module = sys.modules.get(name) if isinstance(name, str) else None
    if module is None or module.__name__.partition(".")[0] != _TOP:
        return None
    return module


def imported_sources(namespace: dict) -> dict[str, str]:
    """{module name: path} of every warpkit module that the module with globals
    ``namespace`` refers to, and those modules refer to, in turn (itself excluded). Taken when
    a kernel is defined, so it sees the imports at the top of its module."""
    found: dict[str, str] = {}
    todo = [namespace]
    while todo:
        for value in list(todo.pop().values()):
            module = _module_of(value)
            if module is None or module.__name__ in found or module.__dict__ is namespace:
                continue
            path = getattr(module, "__file__", None)
            if path is None:
                continue
            found[module.__name__] = path
            todo.append(module.__dict__)
    return found


class WithImports(_CacheLocator):
    """A cache locator for functions defined in warpkit's files: numba's own locator for the
    file (same cache folder, same names) with a stamp that also covers the warpkit modules the
    file refers to (see the module docstring)."""

    def __init__(self, inner: _CacheLocator, sources: dict[str, str]):
        self._inner = inner
        self._sources = sources

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        path = self._inner.get_cache_path()
        FOLDERS.add(path)
        return path

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @property
    def _py_file(self) -> str:
        """The source file, which numba names when it warns that it cannot cache a kernel."""
        return self._inner._py_file

    def get_source_stamp(self) -> object:
        imported = tuple(sorted((name, _digest(path)) for name, path in self._sources.items()))
        return self._inner.get_source_stamp(), imported, _tuning.stamp()

    @classmethod
    def from_function(cls, py_func, py_file: str) -> WithImports | None:
        if not os.path.abspath(py_file).startswith(_PACKAGE + os.sep):
            return None
        for other in CacheImpl._locator_classes:
            if other is cls:
                continue
            inner = other.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner, imported_sources(py_func.__globals__))
        return None


#: The cache folders of warpkit's functions (as :class:`WithImports` gave them to numba), kept
#: on numba's class so that a second copy of warpkit in the process (``benchmarks/ab_kernels.py``
#: imports one) shares it with the first and its lock.
FOLDERS: set[str] = caching.IndexDataCacheFile.__dict__.get("_warpkit_folders", set())
caching.IndexDataCacheFile._warpkit_folders = FOLDERS

#: The file in each such folder that its saves and loads lock.
LOCK_NAME = "warpkit-cache.lock"


@contextlib.contextmanager
def folder_lock(folder: str, exclusive: bool) -> Iterator[None]:
    """Hold a lock on ``folder``'s :data:`LOCK_NAME` (exclusive or shared) for the block; no
    lock where ``fcntl`` is missing, the file cannot be opened or the file system does not
    lock (some network file systems)."""
    try:
        import fcntl

        f = open(os.path.join(folder, LOCK_NAME), "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


#: numba's own save and load (another copy of warpkit may have wrapped them already)
_numba_save = getattr(caching.IndexDataCacheFile.save, "__wrapped__",
                      caching.IndexDataCacheFile.save)
_numba_load = getattr(caching.IndexDataCacheFile.load, "__wrapped__",
                      caching.IndexDataCacheFile.load)


def _locking(method, exclusive: bool):
    """numba's ``method`` of ``IndexDataCacheFile`` under :func:`folder_lock` in warpkit's
    cache folders."""

    def locked(self, *args):
        if self._cache_path not in FOLDERS:
            return method(self, *args)
        with folder_lock(self._cache_path, exclusive):
            return method(self, *args)

    locked.__wrapped__ = method
    return locked


def install() -> None:
    """Put :class:`WithImports` first in numba's locators and lock the saves and loads of
    warpkit's cache folders (once; done when this module is imported, which
    ``warpkit/__init__.py`` does before any kernel is defined)."""
    if WithImports not in CacheImpl._locator_classes:
        CacheImpl._locator_classes.insert(0, WithImports)
    caching.IndexDataCacheFile.save = _locking(_numba_save, exclusive=True)
    caching.IndexDataCacheFile.load = _locking(_numba_load, exclusive=False)


install()
