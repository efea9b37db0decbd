"""Cost of one closed-loop training step: the wavefront loop (train/rollout.py, W + K - 1 recurrent
steps in sequence) against the re-reading loop (K calls over the whole window, K x W steps).

LSTM(40), window 52, Adam, one compiled train step per (loop, horizon, batch) on the same random
batch, side by side in this process, interleaved round by round so that a change in the machine's
load falls on both loops; the median of the rounds. The first call (tracing) is timed separately.

    .venv/bin/python benchmarks/wavefront_step.py [--horizons 3,5,10,20] [--batches 16,44] [--steps 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402


def compiled_step(model, loop, horizon: int):
    """One train step (loss: the sequence and closed-loop squares) on its own Adam, compiled."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            out, preds = loop(x, horizon, lambda p: p)
            loss = tf.reduce_mean(tf.square(out)) + tf.reduce_mean(tf.square(preds))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", default="3,5,10,20")
    parser.add_argument("--batches", default="16,44")
    parser.add_argument("--window", type=int, default=52)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    from edge_forecast.train.models import build_model
    from edge_forecast.train.rollout import rereading_loop, wavefront_loop

    rows = ["| batch | training horizon | re-reading ms / step | wavefront ms / step | wavefront / re-reading | "
            "trace s (re-reading / wavefront) | 1-min load before / after |", "|---:|---:|---:|---:|---:|---:|---|"]
    for batch in [int(b) for b in args.batches.split(",")]:
        x = tf.constant(np.random.default_rng(0).normal(size=(batch, args.window, 1)), dtype=tf.float32)
        for horizon in [int(k) for k in args.horizons.split(",")]:
            before = os.getloadavg()[0]
            model = build_model("lstm", args.window, 40)
            steps = {"re-reading": compiled_step(model, rereading_loop(lambda w, m=model: m(w, training=True)), horizon),
                     "wavefront": compiled_step(model, wavefront_loop(model), horizon)}
            trace, times = {}, {name: [] for name in steps}
            for name, step in steps.items():
                started = time.perf_counter()
                step(x).numpy()
                trace[name] = time.perf_counter() - started
            for _ in range(args.rounds):
                for name, step in steps.items():
                    started = time.perf_counter()
                    for _ in range(args.steps):
                        loss = step(x)
                    loss.numpy()
                    times[name].append(1000 * (time.perf_counter() - started) / args.steps)
            old, new = (statistics.median(times[name]) for name in steps)
            rows.append(f"| {batch} | {horizon} | {old:.1f} | {new:.1f} | {new / old:.2f} | "
                        f"{trace['re-reading']:.1f} / {trace['wavefront']:.1f} | {before:.1f} / {os.getloadavg()[0]:.1f} |")
            print(rows[-1], flush=True)
    body = (f"LSTM(40), window {args.window}, Adam, one random batch; median of {args.rounds} rounds of {args.steps} "
            "compiled train steps per loop, the two loops interleaved in this process. The ratio is the point; "
            "the milliseconds depend on the machine's load (shown).\n\n" + "\n".join(rows))
    write_report("wavefront_step", "Closed-loop training step: wavefront against re-reading loop",
                 f"python benchmarks/wavefront_step.py --horizons {args.horizons} --batches {args.batches} "
                 f"--steps {args.steps} --rounds {args.rounds}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
