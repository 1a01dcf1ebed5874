"""Freed image-sized buffers go back to the system (glibc).

glibc serves a request above its mmap threshold with its own mapping and
unmaps it when freed; but after such a free it raises the threshold to
that size (up to 32 MB), so later buffers of image size come from the
heap, where freed ones stay mapped. Training on 300 images of 1024×2048
left ~700 MB held that way. A fixed threshold turns that off.
"""
from __future__ import annotations

import ctypes
import ctypes.util

#: glibc's ``M_MMAP_THRESHOLD`` parameter of ``mallopt``.
_M_MMAP_THRESHOLD = -3
#: glibc's initial threshold, kept fixed.
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` for this process.

    Returns
    -------
    bool
        Whether it was set: False where the C library is not glibc (macOS,
        Windows, musl), which is left as it is.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return mallopt(_M_MMAP_THRESHOLD, nbytes) == 1
