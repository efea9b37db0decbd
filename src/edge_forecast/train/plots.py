"""The tutorial's two figures: loss curves and the closed-loop forecast."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_losses(histories: dict[str, dict[str, list[float]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, hist in histories.items():
        epochs = np.arange(1, len(hist["loss"]) + 1)
        # a least-squares fit has one entry: a line through one point draws nothing
        marker = "o" if len(epochs) == 1 else None
        (line,) = ax.plot(epochs, hist["loss"], marker=marker, label=f"{name} train")
        if hist.get("val_loss"):
            ax.plot(epochs, hist["val_loss"], "--", marker=marker, mfc="none", color=line.get_color(),
                    label=f"{name} validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss (scaled units, log scale)")
    ax.set_title("Training and validation loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_forecasts(truth: np.ndarray, window: int, forecasts: dict[str, np.ndarray], path: Path, title: str,
                   times: np.ndarray | None = None, zone: str | None = None) -> None:
    """`times`: seconds since 1970 of the truth's values (tabular.Column.times: UTC with an offset
    `zone` such as "+01:00", wall clock without): dates on the x axis, on the file's clock."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = np.arange(truth.size) if times is None else _clock(times[: truth.size], zone)
    ax.plot(t, truth, color="black", lw=2, label="truth")
    ax.axvspan(t[0], t[window - 1], color="grey", alpha=0.15, label=f"context window ({window} true values)")
    for name, values in forecasts.items():
        ax.plot(t[window : window + values.size], values, lw=1.5, label=f"{name} closed loop")
    if times is None:
        ax.set_xlabel("sample index")
    else:
        ax.set_xlabel("time" + (f" (UTC{zone})" if zone else ""))
        fig.autofmt_xdate()
    ax.set_ylabel("signal value")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clock(seconds: np.ndarray, zone: str | None) -> np.ndarray:
    """datetime64 of each value on the file's clock (its UTC offset added back)."""
    offset = 0
    if zone:
        sign = -1 if zone.startswith("-") else 1
        hours, minutes = zone[1:].split(":")
        offset = sign * (int(hours) * 3600 + int(minutes) * 60)
    return (np.round((np.asarray(seconds, dtype=np.float64) + offset) * 1e3)).astype("datetime64[ms]")
