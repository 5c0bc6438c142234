"""Training throughput: r2p's trainers beside the loops a user would otherwise write.

Same model (the churn spec), same data (``--rows`` encoded rows, two classes), same batch size
and epochs, in one run. TensorFlow: r2p's graph-mode trainer, a plain ``model.fit`` and a
hand-written ``tf.function`` step over ``tf.data``. PyTorch: r2p's prototype trainer and a plain
torch loop. Best of two runs each. Samples/s count training rows only (r2p's trainers also
evaluate the validation split each epoch, inside the timing). Prints JSON with ratios.

    .venv/bin/python benchmarks/bench_trainers.py [--rows 200000] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from _common import best_of


def _data(rows: int, dim: int, seed: int = 0):
    from r2p.training.data import Arrays
    from r2p.training.preprocess import Numeric, Preprocessing

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(dim)
    pre = Preprocessing(tuple(Numeric(f"x{i}", 0.0, 1.0) for i in range(dim)), (), ("a", "b"))
    x, y = {}, {}
    for split, n in (("train", rows), ("valid", 2000), ("test", 10)):
        x[split] = rng.standard_normal((n, dim)).astype(np.float32)
        y[split] = (x[split] @ w + rng.standard_normal(n) > 0).astype(np.int64)
    return Arrays(pre, x, y)


REPEAT = 2  # best of two: the first run of each pays one-off warm-up (allocator, kernels)


def _timed(fn) -> float:
    return best_of(fn, REPEAT)


def bench_tf(spec, data, epochs: int) -> dict:
    import keras
    import tensorflow as tf

    from r2p.training.models import build_tf
    from r2p.training.tf_trainer import train_tf

    n, dim = data.x["train"].shape
    out = {}
    out["r2p_graph_trainer"] = _timed(lambda: train_tf(spec, data))

    def fit() -> None:
        model = build_tf(spec, dim, 2)
        model.compile(
            optimizer=keras.optimizers.Adam(spec.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            data.x["train"],
            data.y["train"],
            batch_size=spec.batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            validation_data=(data.x["valid"], data.y["valid"]),
        )

    out["keras_fit"] = _timed(fit)

    def hand() -> None:
        model = build_tf(spec, dim, 2)
        opt = keras.optimizers.Adam(spec.learning_rate)
        opt.build(model.trainable_variables)

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=y, logits=model(x, training=True)
                    )
                )
            opt.apply_gradients(
                zip(
                    tape.gradient(loss, model.trainable_variables),
                    model.trainable_variables,
                    strict=True,
                )
            )
            return loss

        ds = tf.data.Dataset.from_tensor_slices((data.x["train"], data.y["train"]))
        ds = ds.shuffle(n, seed=1).batch(spec.batch_size).prefetch(tf.data.AUTOTUNE)
        for _ in range(epochs):
            for x, y in ds:
                step(x, y)

    out["hand_tf_function_loop"] = _timed(hand)
    return {
        k: {"seconds": round(v, 3), "samples_per_s": round(n * epochs / v)} for k, v in out.items()
    }


def bench_torch(spec, data, epochs: int) -> dict:
    import torch

    from r2p.training.models import build_torch
    from r2p.training.torch_trainer import train_torch

    n, dim = data.x["train"].shape
    out = {"r2p_prototype_trainer": _timed(lambda: train_torch(spec, data))}

    def plain() -> None:
        torch.manual_seed(spec.seed)
        model = build_torch(spec, dim, 2)
        opt = torch.optim.Adam(model.parameters(), lr=spec.learning_rate)
        x, y = torch.from_numpy(data.x["train"]), torch.from_numpy(data.y["train"])
        for _ in range(epochs):
            perm = torch.randperm(n)
            for i in range(0, n, spec.batch_size):
                idx = perm[i : i + spec.batch_size]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()

    out["plain_torch_loop"] = _timed(plain)
    return {
        k: {"seconds": round(v, 3), "samples_per_s": round(n * epochs / v)} for k, v in out.items()
    }


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from r2p.config import load_pipeline
    from r2p.config.schema import EarlyStopping

    spec = (
        load_pipeline("churn")
        .models[0]
        .model_copy(
            update={
                "epochs": args.epochs,
                "early_stopping": EarlyStopping(patience=args.epochs + 1),
            }
        )
    )
    data = _data(args.rows, args.dim)
    tf_res, torch_res = bench_tf(spec, data, args.epochs), bench_torch(spec, data, args.epochs)
    ours_tf = tf_res["r2p_graph_trainer"]["samples_per_s"]
    ours_th = torch_res["r2p_prototype_trainer"]["samples_per_s"]
    print(
        json.dumps(
            {
                "benchmark": "trainers",
                "rows": args.rows,
                "input_dim": args.dim,
                "epochs": args.epochs,
                "batch_size": spec.batch_size,
                "cpu_count": os.cpu_count(),
                "tensorflow": tf_res,
                "pytorch": torch_res,
                "ratios": {
                    "r2p_tf_over_hand_loop": round(
                        ours_tf / tf_res["hand_tf_function_loop"]["samples_per_s"], 2
                    ),
                    "r2p_tf_over_keras_fit": round(
                        ours_tf / tf_res["keras_fit"]["samples_per_s"], 2
                    ),
                    "r2p_torch_over_plain_loop": round(
                        ours_th / torch_res["plain_torch_loop"]["samples_per_s"], 2
                    ),
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
