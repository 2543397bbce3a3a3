"""What the lowering needs to know about the machine a kernel will run on.

Every number an algorithm tunes itself by (how many accumulators fit in the vector
registers, from how much work threads pay, which rows are too short to vectorize,
whether a BLAS may be called) is a field of `Machine`, so an algorithm reads the
machine instead of its own constants, and a target (`symconv.targets`) says which
machine it compiles for.  The defaults were measured on the development machine, an
AMD EPYC with AVX-512 and 2 cores (README, "Speed").
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """Hardware limits and the thresholds measured against them."""

    #: Float32 lanes of one vector register (AVX-512: 16).  A row shorter than this,
    #: walked one channel at a time, leaves lanes idle (`MIN_ROW` of the rows schedule).
    vector_lanes: int = 16
    #: Vector registers a tile of accumulators may hold (of AVX-512's 32, a few stay free
    #: for the loads; `host_machine` gives AVX2's 16 registers 12).
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
    #: Bytes of data one parallel task may stage and read back while it stays in the
    #: core's own cache (half of Zen 5's 1 MB L2: the rest holds what the task reads).
    task_cache_bytes: int = 512 * 1024
    #: Bits of one vector register the explicit vector kernels use (512 with AVX-512, 256
    #: with AVX2, 128 with SSE: `host_vector_bits`); 0 leaves them out.
    vector_bits: int = 512

    def lanes(self, dtype: str) -> int:
        """Values of `dtype` in one vector register: 16 float32 or 8 float64 with AVX-512."""
        return self.vector_bits // (32 if dtype == "float32" else 64)


def host_vector_bits() -> int:
    """The widest vector registers this CPU has, as LLVM will compile for them.

    Numba compiles for the host unless NUMBA_CPU_NAME / NUMBA_CPU_FEATURES say otherwise
    (``-avx512f`` in the features turns 512-bit registers off), so those are read first;
    then the CPU's flags (Linux).  A CPU of another architecture gets 128 bits, which
    LLVM maps onto whatever vectors it has.
    """
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if features is not None:
        enabled = {f[1:] for f in features.split(",") if f.startswith("+")}
    else:
        enabled = _cpu_flags()
        if os.environ.get("NUMBA_CPU_NAME") not in (None, "host"):
            enabled = set()  # a named CPU without features: assume only the baseline
    if "avx512f" in enabled:
        return 512
    if "avx2" in enabled or "avx" in enabled:
        return 256
    return 128


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_machine() -> Machine:
    """The machine as this CPU has it: its vector width, and the accumulators a register
    tile may hold (24 of AVX-512's 32 registers, 12 of AVX2's 16: the rest hold the
    loads and broadcasts; a tile past that spills and runs at half speed or worse)."""
    bits = host_vector_bits()
    return Machine(vector_bits=bits, accumulators=24 if bits >= 512 else 12)


#: The machine the CPU target compiles for unless told otherwise.
HOST = host_machine()


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
