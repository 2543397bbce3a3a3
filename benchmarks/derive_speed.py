"""How much faster `symconv.derive` is than naive `sympy.diff`, each on its first call.

The layer: 16×16 input, 3×3 kernel, stride 2, padding 1.  Naive: build the loss
L = Σ ∂L/∂O · O from the element equations with SymPy's own `+` and `*`, then
`sympy.diff` it by every input and filter element.  Each side runs in a fresh Python
process that has imported SymPy (and symconv) already, so both pay SymPy's own set-up
on their first call (its first sum imports `sympy.tensor`, its assumptions cache
starts empty), as a user's first call does.

    python benchmarks/derive_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

DERIVE = """
import time, sympy, symconv
spec = symconv.ConvSpec((16, 16), 3, stride=2, padding=1)
start = time.perf_counter(); symconv.derive(spec); print(time.perf_counter() - start)
"""

NAIVE = """
import time, sympy as sp
import symconv  # imported on both sides, so neither pays for the other's imports
start = time.perf_counter()
H = W = 16; K = 3; S = 2; P = 1
O = (H + 2 * P - K) // S + 1
X = [[sp.Symbol(f"X{i}_{j}") for j in range(W)] for i in range(H)]
F = [[sp.Symbol(f"F{i}_{j}") for j in range(K)] for i in range(K)]
loss = 0
for a in range(O):
    for b in range(O):
        out = 0
        for p in range(K):
            for q in range(K):
                r, c = S * a + p - P, S * b + q - P
                if 0 <= r < H and 0 <= c < W:
                    out += X[r][c] * F[p][q]
        loss += sp.Symbol(f"G{a}_{b}") * out
gradients = [sp.diff(loss, v) for row in X + F for v in row]
print(time.perf_counter() - start)
"""


def first_call(program: str) -> float:
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    done.check_returncode()
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per side")
    runs = parser.parse_args().runs
    derive = [first_call(DERIVE) for _ in range(runs)]
    naive = [first_call(NAIVE) for _ in range(runs)]
    d, n = statistics.median(derive), statistics.median(naive)
    print(f"derive, first call: median {d * 1e3:.0f} ms of {runs} fresh processes")
    print(f"naive sympy.diff:   median {n * 1e3:.0f} ms of {runs} fresh processes")
    print(f"derive is {n / d:.1f}x faster")


if __name__ == "__main__":
    main()
