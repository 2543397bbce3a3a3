"""Run the speed benchmark: exactly `symconv bench`, with the arguments passed through.

python benchmarks/run_suite.py -o benchmarks/results
python benchmarks/run_suite.py --quick
"""

from __future__ import annotations

import sys

from symconv.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
