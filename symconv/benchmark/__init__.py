"""The speed benchmark: generated kernels against PyTorch and the NumPy reference.

suite (which layers) -> contenders (what is timed) -> timing (medians) -> run (one
process, every layer, op and dtype) -> report (Markdown, JSON, PNG).  Speed is
measured here, as ratios in one process, never asserted in timed tests.
"""

from symconv.benchmark.run import BenchResult, Measurement, run_suite
from symconv.benchmark.suite import SUITE, quick_suite

__all__ = ["SUITE", "BenchResult", "Measurement", "quick_suite", "run_suite"]
