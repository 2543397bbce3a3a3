"""`symconv` with no command: the whole pipeline on the lecture example, then a verdict.

Derive the 3×3-input, 2×2-kernel layer of the lecture notes (equations, gradients,
the rotation and dilation patterns), generate its Numba kernels, verify them against
the NumPy reference, and say in one line whether everything held.
"""

from __future__ import annotations

import time

from symconv.kinds import ConvSpec
from symconv.render import render
from symconv.symbolic.derive import derive
from symconv.verify import verify

LECTURE_EXAMPLE = ConvSpec(input_size=(3, 3), kernel_size=(2, 2))


def run() -> int:
    started = time.perf_counter()
    derivation = derive(LECTURE_EXAMPLE)
    print(render(derivation, "text"))
    proved = sum(p.holds for p in derivation.patterns.values())
    verdicts = [f"{proved}/{len(derivation.patterns)} patterns proved"]
    ok = derivation.all_patterns_hold
    ok &= _generate_and_verify(verdicts)
    elapsed = time.perf_counter() - started
    status = "OK" if ok else "FAILED"
    print(f"\nverdict: {status}: {', '.join(verdicts)} ({elapsed:.1f} s)")
    return 0 if ok else 1


def _generate_and_verify(verdicts: list[str]) -> bool:
    print("\n== Generated kernels, verified against the NumPy reference ==")
    report = verify(LECTURE_EXAMPLE, progress=print)
    print(report.format())
    verdicts.append(f"kernels at {report.path}")
    verdicts.append("kernels match the reference" if report.ok else "kernels DIFFER")
    return report.ok
