"""Resident memory of this process: the current and the peak (stdlib; psutil where it helps)."""

from __future__ import annotations

import os
import sys

MIB = 1024.0 * 1024.0


def peak_rss_mib() -> float | None:
    """Peak resident set size of this process so far, in MiB."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return peak / MIB if sys.platform == "darwin" else peak / 1024.0
    except (ImportError, OSError):
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / MIB
    except Exception:  # no way to measure here: the report says "n/a"
        return None


def current_rss_mib() -> float | None:
    """Resident set size of this process now, in MiB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MIB
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss / MIB
    except Exception:  # no way to measure here
        return None
