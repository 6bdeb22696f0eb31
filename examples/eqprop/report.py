"""examples/eqprop/report.py OUT - the numbers of examples/eqprop/README.md from run.sh's
outputs (Python 3, standard library only): the relative error and the cosine of each EP
gradient against the reference (all parameters together), and the training's loss and
accuracy at the first and the last epoch."""
import ast
import csv
import math
import os
import struct
import sys

PARAMS = ["W1", "b1", "W2", "b2"]


def load(path):
    """The values of a float64 .npy file, flat."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + n].decode())
    assert header["descr"] == "<f8", path
    body = data[10 + n:]
    return list(struct.unpack("<%dd" % (len(body) // 8), body))


def gradient(out, name):
    return sum((load(os.path.join(out, "grad_" + name, "grad", p + ".npy")) for p in PARAMS), [])


def main(out):
    ref = gradient(out, "reference")
    norm = math.sqrt(sum(r * r for r in ref))
    print("EP gradient at the initial weights against the reference (symmetric, beta 0.001):")
    print("  %-10s %6s  %-14s %s" % ("nudging", "beta", "relative error", "cosine"))
    for kind in ("one_sided", "symmetric"):
        for beta in ("0.5", "0.2", "0.05"):
            g = gradient(out, "%s_%s" % (kind, beta))
            err = math.sqrt(sum((a - b) ** 2 for a, b in zip(g, ref))) / norm
            cos = sum(a * b for a, b in zip(g, ref)) / norm / math.sqrt(sum(a * a for a in g))
            print("  %-10s %6s  %-14.3e %.6f" % (kind, beta, err, cos))
    with open(os.path.join(out, "train", "epochs.csv")) as f:
        rows = list(csv.DictReader(f))
    first, last = rows[0], rows[-1]
    print("training: epoch %s loss %.4f accuracy %.2f -> epoch %s loss %.4f accuracy %.2f" % (
        first["epoch"], float(first["train_loss"]), float(first["train_acc"]), last["epoch"],
        float(last["train_loss"]), float(last["train_acc"])))
    print("plot: %s" % os.path.join(out, "eqprop.svg"))


if __name__ == "__main__":
    main(sys.argv[1])
