"""Resident memory of this process: the current and the peak (stdlib; psutil where it helps)."""

from __future__ import annotations

import os
import sys

MIB = 1024.0 * 1024.0


def peak_rss_mib() -> float | None:
    """Peak resident set size of this process's own address space so far, in MiB.

    Linux: VmHWM in /proc/self/status. Not getrusage's ru_maxrss: Linux carries it across fork
    and exec, so a child of a 400 MiB parent reports at least 400 MiB whatever it uses itself.
    Elsewhere psutil (Windows' peak working set; macOS
    has no per-address-space peak there, so ru_maxrss, which does not carry over on macOS).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        if hasattr(info, "peak_wset"):
            return info.peak_wset / MIB
    except Exception:  # psutil missing or refused: try the next way
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / MIB if sys.platform == "darwin" else peak / 1024.0  # macOS: bytes, else KiB
    except (ImportError, OSError):
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
