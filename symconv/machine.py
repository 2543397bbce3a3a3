"""What the lowering needs to know about the machine a kernel will run on.

Every number an algorithm tunes itself by (how many accumulators fit in the vector
registers, from how much work threads pay, which rows are too short to vectorize,
whether a BLAS may be called) is a field of `Machine`, so an algorithm reads the
machine instead of its own constants, and a target (`symconv.targets`) says which
machine it compiles for.  The defaults were measured on the development machine, an
AMD EPYC with AVX-512 and 2 cores (README, "Speed").
"""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """Hardware limits and the thresholds measured against them."""

    #: Float32 lanes of one vector register (AVX-512: 16).  A row shorter than this,
    #: walked one channel at a time, leaves lanes idle (`MIN_ROW` of the rows schedule).
    vector_lanes: int = 16
    #: Vector registers a tile of accumulators may hold (32 on AVX-512, a few stay free
    #: for the loads).
    accumulators: int = 24
    #: Largest block of channels a register tile spans along one axis.
    max_tile_block: int = 4
    #: Output channels the rows schedule computes together: each input load feeds them.
    channel_block: int = 8
    #: Multiply-adds per accumulator load/store the rows schedule aims for.
    terms_per_pass: int = 8
    #: Taps per channel up to which tap loops become straight-line code (a 7×7 kernel).
    max_unrolled_taps: int = 49
    #: Multiply-adds (loop iterations) from which a kernel is compiled with threads.
    parallel_min_work: int = 2**15
    #: Multiply-adds from which a convolution gather leaves the direct schedule.
    rows_min_work: int = 2**12
    #: Parallel tasks a batch split aims for; more only adds partial buffers to sum.
    target_tasks: int = 64
    #: A BLAS matrix product may be called from a kernel (`symconv.lower.ir.Gemm`).
    blas: bool = True
    #: Chunks of images an algorithm runs in parallel, each with its own work buffers
    #: (unfold's column matrices): twice the development machine's 2 cores, so an
    #: uneven split still keeps both busy.
    image_chunks: int = 4


#: The machine the CPU target compiles for unless told otherwise.
HOST = Machine()


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
