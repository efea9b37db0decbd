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


def plot_forecasts(truth: np.ndarray, window: int, forecasts: dict[str, np.ndarray], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    t = np.arange(truth.size)
    ax.plot(t, truth, color="black", lw=2, label="truth")
    ax.axvspan(0, window - 1, color="grey", alpha=0.15, label=f"context window ({window} true values)")
    for name, values in forecasts.items():
        ax.plot(np.arange(window, window + values.size), values, lw=1.5, label=f"{name} closed loop")
    ax.set_xlabel("sample index")
    ax.set_ylabel("signal value")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
