"""Freed image-sized buffers go back to the system (glibc).

After a large buffer is freed, glibc raises its mmap threshold to that
size (up to 32 MB), so later image-sized buffers come from the heap. There
the small arrays kept between them (the training set's downscaled images)
pin the freed ones: training on 300 images of 1024×2048 ended holding
~700 MB of freed memory. ``malloc_trim`` hands the heap's free pages back,
wherever they lie, without changing how memory is served.
"""
from __future__ import annotations

import ctypes
import ctypes.util


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system.

    Returns
    -------
    bool
        Whether any memory was given back. Always False where the C
        library is not glibc (macOS, Windows, musl), which is left as it is.
    """
    return _TRIM is not None and _TRIM(0) == 1
