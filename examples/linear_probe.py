"""Per-factor linear-probe accuracy on pixels, through the disentanglement_lib-style adapter.

The baseline a representation has to beat: how well a linear read-out of the
raw one-hot pixels recovers each generative factor of single-object images
(type, subtype, colour, size, row, col). Swap ``features`` for an encoder's
output to probe what the encoder learned.

    python examples/linear_probe.py --train 20000 --test 5000
"""

from __future__ import annotations

import argparse

import numpy as np

from gridstore.factors import SingleObjectData


def features(observations: np.ndarray) -> np.ndarray:
    """Flattened one-hot pixels with a bias column: the representation probed here."""
    x = observations.reshape(len(observations), -1)
    return np.hstack([x, np.ones((len(x), 1), x.dtype)]).astype(np.float64)


def probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression of the pixels onto targets ``y_train``; its predictions on ``x_test``.

    Solved in whichever of the primal (features x features) or dual (images x
    images) forms is smaller.
    """
    n, d = x_train.shape
    if n < d:
        alpha = np.linalg.solve(x_train @ x_train.T + ridge * np.eye(n), y_train)
        return (x_test @ x_train.T) @ alpha
    weights = np.linalg.solve(x_train.T @ x_train + ridge * np.eye(d), x_train.T @ y_train)
    return x_test @ weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=20_000, help="training images")
    parser.add_argument("--test", type=int, default=5_000, help="test images")
    parser.add_argument("--ridge", type=float, default=10.0, help="L2 penalty of the probe")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = SingleObjectData(one_hot=True)
    rs = np.random.RandomState(args.seed)
    f_train, o_train = data.sample(args.train, rs)
    f_test, o_test = data.sample(args.test, rs)
    x_train, x_test = features(o_train), features(o_test)
    print(f"{len(data):,} factor combinations; {args.train:,} train / {args.test:,} test images")
    sizes = data.factors_num_values
    # every factor's one-hot labels side by side: one solve serves all six probes
    targets = np.hstack([np.eye(k)[f_train[:, i]] for i, k in enumerate(sizes)])
    scores = probe(x_train, targets, x_test, args.ridge)
    bounds = np.cumsum([0, *sizes])
    for i, name in enumerate(data.factor_names):
        classes = sizes[i]
        acc = float((scores[:, bounds[i] : bounds[i + 1]].argmax(1) == f_test[:, i]).mean())
        chance = np.bincount(f_test[:, i], minlength=classes).max() / len(f_test)
        print(f"{name:15s} linear-probe accuracy {acc:.3f} (majority class {chance:.3f})")


if __name__ == "__main__":
    main()
