"""The default training budget: batch size, epochs, learning rate and training horizon when the
user gives none (no TensorFlow).

Closed-loop training costs ~K x W cell steps per window (run as W + K - 1 batched steps in sequence
by the wavefront loop, train/rollout.py) and is bound by per-operation overhead at small batches:
on this 2-core machine (shared) an LSTM(40) closed-loop training step at window 52 took 241 ms
at batch 16, 314 ms at batch 128 and 1.09 s at batch 512, i.e. 6.1x and 7.1x the windows per
second of batch 16 (docs/design/evidence/rollout_batch_cost.md). So long training parts get larger
batches (capped at 128, past which the gain is small and the updates few), and the epoch count
follows a budget of gradient steps, scaled by the window, instead of a fixed 150: the
tutorial-sized series (batch 16) keep their 150 epochs x 8 steps at window 20, training horizon 10,
rate 3e-3 and therefore their results.

A grown batch averages its gradient over more windows, so it takes a larger rate: the rate grows
in proportion to the batch (the linear scaling rule, Goyal et al., "Accurate, Large Minibatch SGD:
Training ImageNet in 1 Hour", 2017), capped at 0.01, after a linear warmup over the first 5% of the
steps (same source: a large rate from random weights diverges). A grown batch also means a long
training part, where the accuracy came from more gradient steps: there the training horizon is 5
instead of 10, the budget 6,400 steps at window 52 (scaled by 52 / window, at most 200 epochs), and
the run keeps an exponential moving average of the weights (momentum 0.99, Keras' optimizer EMA;
Polyak & Juditsky 1992, and Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization", UAI 2018, for averaged weights generalizing better), which validation scores and
--select best picks from. The wavefront closed loop (train/rollout.py: W + K - 1 recurrent steps in
sequence instead of K x W) made a step 0.47-0.60x as long as the re-reading loop's at horizon 5
(docs/design/evidence/wavefront_step.md), which pays for the doubled budget: the whole command took
125 s on the idle machine (benchmarks/results/long_series.md).
Measured on 2,000 Mackey-Glass values at window 52, LSTM(40), batch 44, rate 0.00825, test RMSE
of the 20-step backtest (reference: 150 epochs at batch 16, 13,050 steps, 34 minutes, seed 0 only:
0.0015; docs/design/0006-wavefront-loop-and-training-budget.md): the default, 6,400 steps with
the average, 0.0013 (seed 0), 0.00087 (seed 1) and 0.0014 (seed 2); without the average 0.0014
and 0.0019 (seeds 0, 1); the previous default (3,200 steps, no average) 0.0022, 0.0029 and
0.0023; 3,200 steps with the average 0.0021 and 0.0023. Horizon 10,
608 steps (the default before that) 0.0051, 1,824 steps 0.0036, 3,200 steps 0.0026 (0.0021 with the
average); horizon 5, 1,824 steps 0.0041, 4,480 steps 0.0023; horizon 3, 4,800 steps 0.0032.
Tried and not adopted: training-horizon schedules (short loops first: 3/5/10 0.0029, 3/5/20
0.0037 at 3,200 steps); averages of momentum 0.998 (0.0028 at 3,200 steps); rate 0.005 (0.0027);
batch 128 (0.0030), batch 16 at horizon 5 (4,785 steps 0.0033) and horizon 10 (6,090 steps
0.0031); XLA-compiled train steps (no faster at batch 44 after 12-14 s of compiling); one-step
(teacher-forced) pretraining (0.0060-0.0080); batch 16 at 3e-3 for 2,436 steps (0.0041); an
unrolled training LSTM (tracing the 10-step loop did not finish in 14 minutes).
"""

from __future__ import annotations

import math
from dataclasses import replace

from edge_forecast.train.config import TrainConfig

MIN_BATCH, MAX_AUTO_BATCH = 16, 128
MAX_STEPS_PER_EPOCH = 32          # auto batch: grow the batch before an epoch exceeds this many steps
GRADIENT_STEP_BUDGET = 1200       # at window 20 and batch 16: the seed signal's 150 epochs x 8 steps
REFERENCE_WINDOW = 20
GROWN_STEP_BUDGET = 6400          # a grown batch, at window 52 and training horizon 5 (the wavefront loop)
GROWN_REFERENCE_WINDOW = 52
MAX_AUTO_EPOCHS = 150
GROWN_MAX_EPOCHS = 200            # a grown batch: ~32 steps an epoch, so the budget at window 52 fits
GROWN_WEIGHT_AVERAGE = 0.99       # EMA momentum of the weights with a grown batch and the step budget
DEFAULT_TRAIN_HORIZON = 10        # closed-loop steps per sample, at batch 16
GROWN_TRAIN_HORIZON = 5           # with a grown batch: half the cost per step, twice the steps
DEFAULT_LEARNING_RATE = 3e-3      # Adam, at batch 16
MAX_AUTO_RATE = 0.01              # the scaled rate's cap (batch 128 would otherwise get 0.024, untried)
WARMUP_FRACTION = 0.05            # of the schedule, when the rate is scaled up for a grown batch
# Early stopping of a budgeted run: stop once the best validation backtest is at least half the
# gradient steps done old and at least STALE_MIN_STEPS old. On NAB's nyc_taxi (10,320 values, batch
# 128, 11,600 budgeted steps) the default LSTM's best validation came at epoch 30 of 200 (1,740
# steps) and the remaining 170 epochs (~500 s here) only overfitted; a tutorial-sized run (1,200
# steps) stops only if its best came in its first 200 steps; one that keeps improving never stops.
STALE_FRACTION = 0.5
STALE_MIN_STEPS = 1000


def stale(steps_done: int, best_step: int) -> bool:
    """Whether a run whose best validation came after `best_step` of `steps_done` gradient steps
    has stopped improving (early stopping)."""
    since = steps_done - best_step
    return since >= STALE_MIN_STEPS and since >= STALE_FRACTION * steps_done


def training_samples(config: TrainConfig, train_end: int) -> int:
    """How many samples one epoch draws from the training part (windows, closed-loop samples or
    sequences), at the default training horizon when none is set yet."""
    k = DEFAULT_TRAIN_HORIZON if config.train_horizon is None else config.train_horizon
    span = (config.stream or config.window) + (max(k, 1) if (k or config.stream) else 1)
    return max(1, train_end - span + 1)


def batch_growth(config: TrainConfig, batch: int) -> float:
    """batch / 16 for an auto batch of closed-loop window training (where it was measured), else 1."""
    auto = config.batch_size is None and config.train_horizon != 0 and not config.stream and config.preset is None
    return batch / MIN_BATCH if auto and batch > MIN_BATCH else 1.0


def resolve_budget(config: TrainConfig, samples: int) -> tuple[TrainConfig, dict]:
    """`config` with a concrete batch size, epoch count, learning rate, warmup and training horizon,
    and a note of what was chosen how (`samples`: training samples per epoch, from `training_samples`)."""
    batch = config.batch_size or min(MAX_AUTO_BATCH, max(MIN_BATCH, math.ceil(samples / MAX_STEPS_PER_EPOCH)))
    growth = batch_growth(config, batch)
    horizon = config.train_horizon
    if horizon is None:
        horizon = GROWN_TRAIN_HORIZON if growth > 1 else DEFAULT_TRAIN_HORIZON
        samples += DEFAULT_TRAIN_HORIZON - horizon  # a shorter loop leaves that many more samples
    steps_per_epoch = math.ceil(samples / batch)
    epochs = config.epochs
    if epochs is None:
        budget = (GROWN_STEP_BUDGET * GROWN_REFERENCE_WINDOW if growth > 1
                  else GRADIENT_STEP_BUDGET * REFERENCE_WINDOW) / config.window
        epochs = min(GROWN_MAX_EPOCHS if growth > 1 else MAX_AUTO_EPOCHS, max(1, round(budget / steps_per_epoch)))
    average = config.weight_average
    if average is None:  # measured with the step budget only: a given epoch count keeps the raw weights
        average = GROWN_WEIGHT_AVERAGE if growth > 1 and config.epochs is None else 0.0
    rate = config.learning_rate or min(MAX_AUTO_RATE, DEFAULT_LEARNING_RATE * growth)
    warmup = WARMUP_FRACTION if config.learning_rate is None and growth > 1 else config.warmup
    note = {"batch_size": "given" if config.batch_size else "auto", "epochs": "given" if config.epochs else "auto",
            "learning_rate": "given" if config.learning_rate else ("scaled" if growth > 1 else "default"),
            "train_horizon": "given" if config.train_horizon is not None else "auto",
            "weight_average": "given" if config.weight_average is not None else "auto",
            "samples": samples, "steps_per_epoch": steps_per_epoch, "gradient_steps": steps_per_epoch * epochs,
            "warmup_steps": int(warmup * steps_per_epoch * epochs) if config.lr_schedule == "cosine" else 0}
    stop_early = config.stop_early
    if stop_early is None:
        stop_early = config.epochs is None and config.select == "best"
    note["stop_early"] = "given" if config.stop_early is not None else "auto"
    return replace(config, batch_size=batch, epochs=epochs, learning_rate=rate, warmup=warmup,
                   train_horizon=horizon, weight_average=average, stop_early=stop_early), note
