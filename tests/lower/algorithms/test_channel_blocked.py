"""The channel_blocked algorithm's choices that the equivalence tests cannot see: it takes
only depthwise layers, its copies into blocks and back are transposes, a strided dL/dX
multiplies no zero the stride inserts, the items share a few slots of buffers, and a
dL/dF of many taps keeps its accumulators within the registers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from symconv.kinds import ConvSpec, kind_of
from symconv.lower import lower
from symconv.lower.algorithms import by_name
from symconv.lower.algorithms.channel_blocked import RESULT, SOURCE
from symconv.lower.driver import variants_for
from symconv.lower.ir import For, If, VecFma, VecStoreRows, walk
from symconv.machine import Machine
from symconv.pipeline import render
from tests.strategies import depthwise_specs

DEPTHWISE_S2 = ConvSpec((12, 40), 3, in_channels=20, out_channels=20, groups=20, batch=3,
                        stride=2, padding=1)  # fmt: skip


def lowered(spec: ConvSpec, kernel: str, schedule: str = "channel_blocked", parallel=False):
    formula = next(f for f in kind_of(spec).index_level(spec).formulas() if f.name == kernel)
    return lower(formula, spec, schedule=schedule, parallel=parallel)


def test_the_tile_is_part_of_the_name_and_only_depthwise_layers_are_taken():
    assert by_name("channel_blocked:12").name == "channel_blocked:12"
    for bad in ("channel_blocked:0", "channel_blocked:x", "channel_blocked:"):
        with pytest.raises(ValueError, match="channel_blocked:P"):
            by_name(bad)
    grouped = ConvSpec((8, 8), 3, in_channels=8, out_channels=16, groups=8)  # 2 per group
    with pytest.raises(ValueError, match="one input and one output channel per group"):
        lowered(grouped, "forward")
    with pytest.raises(ValueError, match="one accumulator per tap by itself"):
        lowered(DEPTHWISE_S2, "grad_weight", "channel_blocked:4")


def test_copies_into_blocks_and_back_are_transposes_in_registers():
    """20 float32 channels: a block of 16 lanes and one of 4.  Into the blocks, each store
    takes 16 channels' vectors of positions (lanes a vector apart); back, 16 positions'
    vectors of channels, lanes a plane of 6 × 20 outputs apart, the partial block storing
    4 lanes under its own guard."""
    nest = lowered(DEPTHWISE_S2, "forward")
    stores = [s for s, _ in walk(nest.body) if isinstance(s, VecStoreRows)]
    into = [s for s in stores if s.target.buffer == SOURCE]
    back = [s for s in stores if s.target.buffer == "y"]
    assert into and all(len(s.vars) == 16 and s.stride == 16 for s in into)
    assert back and all(s.stride == 6 * 20 and s.step == 1 for s in back)
    assert sorted({s.count for s in back}) == [4, 16]
    guarded = [s for s, loops in walk(nest.body) if isinstance(s, If)]
    assert guarded  # the full and the partial block each under their guard


def test_strided_grad_input_reads_only_the_taps_that_meet_an_output():
    """k3, stride 2, padding 1, 1-D: input 2q gets ∂L/∂O[q]·w1 (one tap), input 2q + 1 gets
    ∂L/∂O[q + 1]·w0 + ∂L/∂O[q]·w2 (two): 3 FMAs per pair, not the 6 of the three taps
    over ∂L/∂O with a zero between neighbours."""
    spec = ConvSpec((40,), 3, in_channels=16, out_channels=16, groups=16, stride=2, padding=1)
    nest = lowered(spec, "grad_input", "channel_blocked:1")
    extents = []
    for stmt, loops in walk(nest.body):
        if isinstance(stmt, VecFma):
            extents.append(next(loop.extent for loop in reversed(loops) if loop.var.name == "rt0"))
    assert sorted(set(extents)) == [1, 2]
    assert extents.count(1) == extents.count(2)  # one FMA statement per phase and tile


def test_items_are_dealt_round_a_few_slots_of_buffers():
    """3 images × 2 blocks of 16 and 4 channels = 6 items, threaded: 4 slots
    (Machine.image_chunks) in one parallel loop, 2 rounds, the second guarded (items 4
    and 5 only); the blocked copies hold 4 slots, not 6 items."""
    nest = lowered(DEPTHWISE_S2, "forward", parallel=True)
    parallel = [s for s, _ in walk(nest.body) if isinstance(s, For) and s.parallel]
    assert len(parallel) == 1 and parallel[0].extent == Machine().image_chunks == 4
    (rounds,) = [s for s in parallel[0].body if isinstance(s, For)]
    assert rounds.extent == 2 and any(isinstance(s, If) for s in rounds.body)
    shapes = {s.name: s.shape for s in nest.scratch}
    assert shapes[SOURCE][0] == 4 and shapes[RESULT][0] == 4
    assert shapes[SOURCE][1:] == (13, 41, 16)  # rows and columns the windows reach, padded


def test_grad_weight_of_many_taps_keeps_its_accumulators_within_the_registers():
    """7×7 = 49 taps, 24 accumulators: ⌈49 / 24⌉ = 3 passes over the positions, of
    ⌈49 / 3⌉ = 17 taps, 17 and the 15 left."""
    spec = ConvSpec((16, 16), 7, in_channels=32, out_channels=32, groups=32, padding=3)
    nest = lowered(spec, "grad_weight")
    passes = [s for s, loops in walk(nest.body)
              if isinstance(s, For) and s.var.name == "wj0"]  # fmt: skip
    sizes = [len({f.acc for f, _ in walk(p.body) if isinstance(f, VecFma)}) for p in passes]
    assert sorted(sizes) == [15, 17, 17]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=depthwise_specs(max_channels=20))
@example(  # the last axis's only window lies in the padding: nothing of X to copy (CI found it)
    spec=ConvSpec(
        (1, 1), 1, in_channels=2, out_channels=2, groups=2, stride=(1, 2), padding=((0, 0), (1, 0))
    ),  # fmt: skip
)
def test_every_loop_has_a_body_and_the_module_is_python(spec):
    """A loop left without statements (a copy of nothing) is no Python: the module would not
    import.  Every variant's nest, threads on and off, and the rendered module."""
    level = kind_of(spec).index_level(spec)
    for formula in level.formulas():
        if formula.name not in ("forward", "grad_input", "grad_weight"):
            continue
        for name in variants_for(formula, spec):
            if not name.startswith("channel_blocked"):
                continue
            for parallel in (False, True):
                nest = lower(formula, spec, schedule=name, parallel=parallel)
                empty = [s for s, _ in walk(nest.body) if isinstance(s, For) and not s.body]
                assert not empty, f"{formula.name} {name}: a loop over {empty[0].var} is empty"
    schedules = {k: "channel_blocked@2" for k in ("forward", "grad_input", "grad_weight")}
    compile(render(spec, schedules=schedules), "module", "exec")  # raises on bad Python
