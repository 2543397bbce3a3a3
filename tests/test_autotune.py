"""Tests for symconv.autotune: every candidate timed, the fastest kept, the choice recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

import symconv.autotune as autotune
from symconv.kinds import CONVOLUTION, ConvSpec
from symconv.pipeline import generate, module_file

SPEC = ConvSpec((12,), 3, in_channels=2, out_channels=2, padding=1)
MACHINE = {"cpu": "test", "threads": 2}


class FakeKernels:
    """Kernels whose answers are the reference's; each algorithm 'costs' a known time."""

    def __init__(
        self,
        spec: ConvSpec,
        schedules: dict[str, str],
        costs: dict[str, float],
        threaded: bool = False,
    ):
        arrays = CONVOLUTION.random_inputs(spec, np.random.default_rng(0))
        answers = CONVOLUTION.reference(spec, arrays)
        # THREADS of a generated module: 1 compiled without threads, 0 on all of them
        self.threads = {
            name: 0 if threaded and not schedules.get(name, "").endswith("@1") else 1
            for name in answers
        }
        for name in answers:
            cost = costs.get(schedules.get(name, ""), 1e-3)
            setattr(self, name, self._kernel(answers[name].astype(spec.dtype), cost))

    @staticmethod
    def _kernel(answer: np.ndarray, cost: float):
        import time

        def call(*args):
            end = time.perf_counter() + cost
            while time.perf_counter() < end:
                pass
            return answer

        return call


def test_candidates_list_every_applicable_algorithm_and_winograd_tiles():
    found = autotune.candidates(SPEC)
    assert {"direct", "unfold", "rows", "winograd:2", "winograd:4", "winograd:6"} <= set(
        found["forward"]
    )
    assert "winograd" not in found["forward"]
    assert {"direct", "blocked", "unfold", "winograd:4"} <= set(found["grad_weight"])
    wide = autotune.candidates(ConvSpec((12,), 3, in_channels=4, out_channels=8, padding=1))
    assert [n for n in wide["grad_weight"] if n.startswith("blocked:")]  # channel tiles too
    assert found["grad_input"][0] == "direct"


def test_tune_keeps_the_fastest_per_kernel_and_compiles_one_module_per_round():
    costs = {"direct": 2e-3, "rows": 1e-4, "unfold": 5e-4, "winograd:4": 5e-5}
    built = []

    def build(schedules):
        built.append(dict(schedules))
        return FakeKernels(SPEC, schedules, costs)

    tuning = autotune.tune(SPEC, build, MACHINE, lambda message: None)
    options = autotune.candidates(SPEC)
    assert len(built) == max(len(v) for v in options.values())
    assert tuning.choice["forward"] == "winograd:4"
    assert tuning.choice["grad_input"] == "winograd:4"
    assert tuning.choice["grad_weight"] == "winograd:4"
    assert set(tuning.seconds["forward"]) == set(options["forward"])


def test_a_wrong_candidate_is_dropped_recorded_and_never_chosen(tmp_path):
    """The fastest forward candidate answers wrong: it is rejected with its error in one
    line naming the layer and the algorithm, the tune goes on, the JSON records it."""
    costs = {"direct": 2e-3, "rows": 1e-4, "unfold": 5e-4, "winograd:4": 5e-5}

    class Wrong(FakeKernels):
        def __init__(self, spec, schedules, costs):
            super().__init__(spec, schedules, costs)
            if schedules["forward"] == "winograd:4":
                self.forward = lambda *args: np.zeros(spec.output_shape, spec.dtype)

    messages: list[str] = []
    tuning = autotune.tune(SPEC, lambda s: Wrong(SPEC, s, costs), MACHINE, messages.append)
    assert tuning.choice["forward"] == "rows"
    assert "winograd:4" not in tuning.seconds["forward"]
    assert tuning.rejected["forward"]["winograd:4"].startswith("wrong answer: relative error 1 ")
    (line,) = [m for m in messages if "rejected" in m]
    assert line.startswith(f"{SPEC.label}: forward winograd:4 rejected: wrong answer")
    assert "\n" not in line
    path = tmp_path / "layer.autotune.json"
    autotune.write_record(path, SPEC, tuning)
    data = json.loads(path.read_text())
    assert data["rejected"] == {"forward": {"winograd:4": tuning.rejected["forward"]["winograd:4"]}}
    assert data["choice"]["forward"] == "rows"


def test_a_candidate_that_does_not_build_or_raises_is_dropped():
    """A round whose module fails to build is built again per candidate, so only the bad
    candidate is rejected; a kernel that raises rejects itself; the others are still timed
    and chosen."""

    def build(schedules):
        if schedules["forward"] == "unfold":
            raise RuntimeError("Failed in nopython mode pipeline\n(a long Numba traceback)")
        kernels = FakeKernels(SPEC, schedules, {"rows": 1e-4})
        if schedules["grad_input"] == "rows":
            kernels.grad_input = lambda *args: 1 / 0
        return kernels

    tuning = autotune.tune(SPEC, build, MACHINE, lambda message: None)
    assert tuning.rejected["forward"]["unfold"] == (
        "did not build: RuntimeError: Failed in nopython mode pipeline"
    )
    assert tuning.rejected["grad_input"]["rows"] == "raised ZeroDivisionError: division by zero"
    assert tuning.choice["forward"] == "rows"
    assert tuning.choice["grad_input"] != "rows"
    assert set(tuning.rejected["grad_weight"]) == set()
    assert set(tuning.seconds["grad_weight"]) == set(autotune.candidates(SPEC)["grad_weight"])


def test_a_kernel_without_one_right_candidate_is_a_clear_error():
    def build(schedules):
        kernels = FakeKernels(SPEC, schedules, {})
        kernels.forward = lambda *args: np.zeros(SPEC.output_shape, SPEC.dtype)
        return kernels

    with pytest.raises(RuntimeError, match="no candidate was right for forward: direct, "):
        autotune.tune(SPEC, build, MACHINE, lambda message: None)


def test_the_record_is_reused_only_on_the_same_machine(tmp_path):
    tuning = autotune.Tuning(MACHINE, {"forward": {"rows": 2.0, "unfold": 1.0}})
    path = tmp_path / "layer.autotune.json"
    autotune.write_record(path, SPEC, tuning)
    data = json.loads(path.read_text())
    assert data["choice"] == {"forward": "unfold"}
    assert data["candidates_seconds"]["forward"]["rows"] == 2.0
    assert autotune.recorded_choice(path, MACHINE) == {"forward": "unfold"}
    assert autotune.recorded_choice(path, {**MACHINE, "threads": 4}) is None
    path.write_text("not json")
    assert autotune.recorded_choice(path, MACHINE) is None


def test_generate_autotune_writes_the_record_and_reuses_it(tmp_path, monkeypatch):
    """A real run on a tiny layer: compiled candidates, the JSON, then no timing at all."""
    messages: list[str] = []
    kernels = generate(SPEC, tmp_path, messages.append, autotune=True)
    (record,) = tmp_path.glob("*.autotune.json")
    data = json.loads(record.read_text())
    assert data["choice"] == kernels.algorithms | {
        k: v for k, v in data["choice"].items() if k not in kernels.algorithms
    }
    assert module_file(SPEC, tmp_path, data["choice"]).exists()

    def no_timing(*args, **kwargs):
        raise AssertionError("timed again")

    monkeypatch.setattr(autotune, "tune", no_timing)
    again = generate(SPEC, tmp_path, messages.append, autotune=True)
    assert again.algorithms == kernels.algorithms
    assert any("autotuned choice from" in m for m in messages)


def test_autotune_and_schedules_together_are_refused():
    with pytest.raises(ValueError, match="give one or the other"):
        generate(SPEC, schedules={"forward": "direct"}, autotune=True)


def test_a_spent_budget_starts_no_further_round_and_records_what_was_left():
    """Round 1 (the default choice of every kernel) runs; the rest is named as not tried."""
    built = []

    def build(schedules):
        built.append(dict(schedules))
        return FakeKernels(SPEC, schedules, {})

    tuning = autotune.tune(SPEC, build, MACHINE, lambda message: None, budget=1e-9)
    options = autotune.candidates(SPEC)
    assert len(built) == 1
    assert tuning.choice == {kernel: names[0] for kernel, names in options.items()}
    for kernel, names in options.items():
        assert tuning.not_tried[kernel] == names[1:]
    data = json.loads(tuning.to_json(SPEC))
    assert data["not_tried"]["forward"] == list(options["forward"][1:])
    assert data["budget_seconds"] == 1e-9


def test_candidates_start_with_the_default_choice():
    from symconv.lower.driver import default_schedule

    for formula in CONVOLUTION.index_level(SPEC).formulas():
        assert autotune.candidates(SPEC)[formula.name][0] == default_schedule(formula, SPEC)


def test_a_budget_that_is_not_a_positive_number_is_refused():
    with pytest.raises(ValueError, match="autotune_seconds=0: expected a positive number"):
        generate(SPEC, autotune=True, autotune_seconds=0)


def test_thread_counts_are_one_and_the_powers_of_two_below_all():
    assert autotune.thread_counts(1) == ()
    assert autotune.thread_counts(2) == (1,)
    assert autotune.thread_counts(8) == (1, 2, 4)
    assert autotune.thread_counts(6) == (1, 2, 4)


def test_threaded_kernels_are_timed_again_on_fewer_threads(monkeypatch):
    """The best algorithm of each threaded kernel gets a one-thread round (a module of its
    own) and a timing per power of two below all threads; a faster one is the choice."""
    monkeypatch.setattr(autotune, "_available_threads", lambda: 4)
    costs = {"direct": 2e-3, "rows": 1e-3, "unfold": 5e-4, "winograd:4": 4e-4, "winograd:4@1": 1e-4}
    built = []

    def build(schedules):
        built.append(dict(schedules))
        return FakeKernels(SPEC, schedules, costs, threaded=True)

    tuning = autotune.tune(SPEC, build, MACHINE, lambda message: None)
    rounds = max(len(v) for v in autotune.candidates(SPEC).values())
    assert len(built) == rounds + 1
    assert built[-1] == {k: "winograd:4@1" for k in ("forward", "grad_input", "grad_weight")}
    for kernel, times in tuning.seconds.items():
        assert {"winograd:4@1", "winograd:4@2"} <= set(times), kernel
        assert "winograd:4@4" not in times  # all threads: what the plain name ran on
    assert tuning.choice == {k: "winograd:4@1" for k in ("forward", "grad_input", "grad_weight")}


def test_serial_kernels_get_no_thread_round(monkeypatch):
    monkeypatch.setattr(autotune, "_available_threads", lambda: 4)
    built = []

    def build(schedules):
        built.append(dict(schedules))
        return FakeKernels(SPEC, schedules, {}, threaded=False)

    tuning = autotune.tune(SPEC, build, MACHINE, lambda message: None)
    assert len(built) == max(len(v) for v in autotune.candidates(SPEC).values())
    assert not any("@" in name for times in tuning.seconds.values() for name in times)
