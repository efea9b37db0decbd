"""The default training budget: batch size and epochs when the user gives neither (no TensorFlow).

Closed-loop training costs ~K x W cell steps per window and is bound by per-operation overhead at
small batches: on this 2-core machine (shared) an LSTM(40) closed-loop training step at window 52 took 241 ms
at batch 16, 314 ms at batch 128 and 1.09 s at batch 512, i.e. 6.1x and 7.1x the windows per
second of batch 16 (benchmarks/results/rollout_batch_cost.md). So long training parts get larger
batches (capped at 128, past which the gain is small and the updates few), and the epoch count
follows a budget of gradient steps, scaled by the window, instead of a fixed 150: the
tutorial-sized series keeps its 150 epochs, a 2,000-value series at window 52 does not take half
an hour (benchmarks/results/long_series.md).
"""

from __future__ import annotations

import math
from dataclasses import replace

from edge_forecast.train.config import TrainConfig

MIN_BATCH, MAX_AUTO_BATCH = 16, 128
MAX_STEPS_PER_EPOCH = 32          # auto batch: grow the batch before an epoch exceeds this many steps
GRADIENT_STEP_BUDGET = 1200       # at window 20: the seed signal's 150 epochs x 8 steps
REFERENCE_WINDOW = 20
MAX_AUTO_EPOCHS = 150


def training_samples(config: TrainConfig, train_end: int) -> int:
    """How many samples one epoch draws from the training part (windows, closed-loop samples or sequences)."""
    span = (config.stream or config.window) + (max(config.train_horizon, 1) if (config.train_horizon or config.stream) else 1)
    return max(1, train_end - span + 1)


def resolve_budget(config: TrainConfig, samples: int) -> tuple[TrainConfig, dict]:
    """`config` with a concrete batch size and epoch count, and a note of what was chosen how."""
    batch = config.batch_size or min(MAX_AUTO_BATCH, max(MIN_BATCH, math.ceil(samples / MAX_STEPS_PER_EPOCH)))
    steps_per_epoch = math.ceil(samples / batch)
    epochs = config.epochs
    if epochs is None:
        budget = GRADIENT_STEP_BUDGET * REFERENCE_WINDOW / config.window
        epochs = min(MAX_AUTO_EPOCHS, max(1, round(budget / steps_per_epoch)))
    note = {"batch_size": "given" if config.batch_size else "auto", "epochs": "given" if config.epochs else "auto",
            "samples": samples, "steps_per_epoch": steps_per_epoch, "gradient_steps": steps_per_epoch * epochs}
    return replace(config, batch_size=batch, epochs=epochs), note
