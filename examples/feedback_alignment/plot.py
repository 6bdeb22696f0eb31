#!/usr/bin/env python3
"""examples/feedback_alignment/plot.py - the three students side by side, standard library only.

    python3 plot.py OUT        (OUT as in run.sh: OUT/bp, OUT/fa, OUT/kp and OUT/init_*)

Writes OUT/feedback_alignment.svg with two panels: the loss (running mean over 5000 steps, log
axis) of weight transport, fixed random feedback and Kolen-Pollack; and the angle between B2
and W2' over training (fixed B2 and Kolen-Pollack), from the parameter snapshots recorded with
--param-every, with the initial parameters (a --steps 0 run) as the first point. Prints the
numbers the README quotes.
"""
import ast
import math
import os
import struct
import sys


def load(path):
    """A little-endian float64 .npy, C order: (shape, flat list of values)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:6] != b"\x93NUMPY":
        raise SystemExit(f"{path}: not an .npy file")
    hl = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + hl].decode())
    if h["descr"] != "<f8" or h["fortran_order"]:
        raise SystemExit(f"{path}: expected little-endian float64 in C order")
    n = math.prod(h["shape"])
    return h["shape"], list(struct.unpack(f"<{n}d", b[10 + hl:10 + hl + 8 * n]))


def angle(w, b, rows, cols):
    """Degrees between W (rows x cols) and the transpose of B (cols x rows)."""
    bt = [b[j * rows + i] for i in range(rows) for j in range(cols)]
    dot = sum(x * y for x, y in zip(w, bt))
    c = dot / math.sqrt(sum(x * x for x in w) * sum(y * y for y in bt))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def running_mean(v, k):
    out, s = [], 0.0
    for i, x in enumerate(v):
        s += x
        if i >= k:
            s -= v[i - k]
        if i >= k - 1 and (i - k + 1) % k == 0:
            out.append((i + 1, s / k))
    return out


def angles(out, run, every):
    (rows, cols), w0 = load(f"{out}/init_{run}/params/W2.npy")
    _, b0 = load(f"{out}/init_{run}/params/B2.npy")
    shape, w = load(f"{out}/{run}/W2.npy")
    _, b = load(f"{out}/{run}/B2.npy")
    n = rows * cols
    pts = [(0, angle(w0, b0, rows, cols))]
    for s in range(shape[0]):
        pts.append(((s + 1) * every, angle(w[s * n:(s + 1) * n], b[s * n:(s + 1) * n], rows, cols)))
    return pts


COLORS = {"bp": "#1f77b4", "fa": "#d62728", "kp": "#2ca02c"}
LABELS = {"bp": "weight transport (W2\u1d40)", "fa": "fixed random B2",
          "kp": "Kolen\u2013Pollack B2"}


def panel(x0, y0, w, h, series, logy, title, ylabel, xmax):
    ys = [y for pts in series.values() for _, y in pts if not logy or y > 0]
    lo, hi = min(ys), max(ys)
    if logy:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12:
        hi = lo + 1
    fy = (lambda y: math.log10(y)) if logy else (lambda y: y)
    px = lambda x: x0 + w * x / xmax
    py = lambda y: y0 + h - h * (fy(y) - lo) / (hi - lo)
    s = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>',
         f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="14">{title}</text>',
         f'<text x="{x0 - 55}" y="{y0 + h / 2}" font-size="12" transform="rotate(-90 {x0 - 55} '
         f'{y0 + h / 2})" text-anchor="middle">{ylabel}</text>']
    for i in range(5):   # y ticks
        v = lo + (hi - lo) * i / 4
        lab = f"{10 ** v:.1e}" if logy else f"{v:.0f}"
        yy = y0 + h - h * i / 4
        s.append(f'<text x="{x0 - 4}" y="{yy + 4}" text-anchor="end" font-size="10">{lab}</text>')
        s.append(f'<line x1="{x0}" x2="{x0 + w}" y1="{yy}" y2="{yy}" stroke="#eee"/>')
    for i in range(5):   # x ticks, in steps
        xv = xmax * i / 4
        s.append(f'<text x="{px(xv)}" y="{y0 + h + 14}" text-anchor="middle" '
                 f'font-size="10">{xv:.0f}</text>')
    s.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 30}" text-anchor="middle" '
             f'font-size="11">step</text>')
    for k, (run, pts) in enumerate(series.items()):
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts if not logy or y > 0)
        s.append(f'<polyline fill="none" stroke="{COLORS[run]}" stroke-width="1.5" points="{d}"/>')
        s.append(f'<text x="{x0 + w - 170}" y="{y0 + 16 + 15 * k}" font-size="11" '
                 f'fill="{COLORS[run]}">{LABELS[run]}</text>')
    return s


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: plot.py OUT")
    out = sys.argv[1]
    every = int(os.environ.get("EVERY", "5000"))
    losses, angs = {}, {}
    for run in ("bp", "fa", "kp"):
        _, loss = load(f"{out}/{run}/loss.npy")
        losses[run] = running_mean(loss, 5000)
        n = len(loss) // 10
        print(f"{run}: loss, mean of the first 10%: {sum(loss[:n]) / n:.3g}, "
              f"of the last 10%: {sum(loss[-n:]) / n:.3g}")
        if run != "bp":
            angs[run] = angles(out, run, every)
            a = angs[run]
            print(f"{run}: angle(B2, W2') at step 0: {a[0][1]:.1f} deg, at step "
                  f"{a[len(a) // 2][0]}: {a[len(a) // 2][1]:.2f} deg, at the end: {a[-1][1]:.2f} deg")
    xmax = max(x for pts in losses.values() for x, _ in pts)
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="420" '
           'font-family="sans-serif"><rect width="1000" height="420" fill="white"/>']
    svg += panel(80, 40, 380, 320, losses, True, "loss (running mean, 5000 steps)", "loss", xmax)
    svg += panel(590, 40, 380, 320, angs, False, "angle between B2 and W2\u1d40", "degrees",
                 xmax)
    svg.append("</svg>")
    with open(f"{out}/feedback_alignment.svg", "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"plot: {out}/feedback_alignment.svg")


if __name__ == "__main__":
    main()
