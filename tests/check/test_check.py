"""`symconv.check` catches planted bugs, shrinks each to a small layer, and passes right code.

The broken implementations are one independent loop convolution (`broken.py`) with
a bug switched on; the right values in the explanation are checked against that
loop convolution with no bug, not against symconv's own reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from symconv.check import CATALOGUE, check
from symconv.check.conventions import Limits, NumpyConvention
from symconv.check.run import layer_arrays
from tests.check.broken import BUGS, LoopConvolution


def _check(bug: str | None, **kwargs):
    c = LoopConvolution(bug)
    return check(c.forward, c.grad_input, c.grad_weight, convention="numpy", **kwargs)


def test_the_loop_convolution_without_a_bug_passes_every_case_and_the_search():
    report = _check(None, examples=150)
    assert report.ok, report.format()
    assert [c.case.name for c in report.cases] == [c.name for c in CATALOGUE]
    assert not any(c.skipped for c in report.cases)
    assert report.searched == 150 and report.failure is None


def _minimal(report):
    assert not report.ok and report.shrunk, report.format()
    return report.failure.kernel, report.failure.spec


#: For each planted bug: the function it breaks, and what the smallest layer must have.
SHRUNK = {
    "leftover": ("grad_weight", lambda s: max(s.leftover) > 0 and max(s.kernel_size) == 1),
    "dilation": ("grad_input", lambda s: max(s.dilation) == 2 and max(s.kernel_size) == 2),
    "groups": ("forward", lambda s: s.groups == 2 and s.out_channels == 4 and s.in_channels == 2),
    "flip": ("forward", lambda s: s.mode == "convolution" and max(s.kernel_size) == 2),
    "padding": ("forward", lambda s: s.padding == ((1, 0),) and max(s.kernel_size) == 1),
}


@pytest.mark.parametrize("bug", BUGS)
def test_each_planted_bug_is_caught_and_shrunk_to_a_one_dimensional_single_image_layer(bug):
    kernel, spec = _minimal(_check(bug))
    wanted_kernel, shape_is_minimal = SHRUNK[bug]
    assert kernel == wanted_kernel
    assert spec.rank == 1 and spec.batch == 1 and not spec.bias and spec.dtype == "float64"
    assert shape_is_minimal(spec), spec
    if bug != "groups":
        assert spec.in_channels == spec.out_channels == 1
    assert spec.input_size[0] <= 3, spec


@pytest.mark.parametrize("bug", ["leftover", "dilation", "flip"])
def test_the_explained_element_has_the_right_and_the_returned_value(bug):
    report = _check(bug)
    wrong, spec = report.wrong, report.failure.spec
    arrays = layer_arrays(spec)
    right_code, broken_code = LoopConvolution(None), LoopConvolution(bug)
    args = {
        "forward": lambda c: c.forward(arrays["x"], arrays["w"], **_fields(spec)),
        "grad_input": lambda c: c.grad_input(
            arrays["gy"], arrays["w"], input_size=spec.input_size, **_fields(spec)
        ),
        "grad_weight": lambda c: c.grad_weight(
            arrays["x"], arrays["gy"], kernel_size=spec.kernel_size, **_fields(spec)
        ),
    }[wrong.kernel]
    assert wrong.right == pytest.approx(args(right_code)[wrong.index])
    assert wrong.got == pytest.approx(args(broken_code)[wrong.index])
    assert wrong.got != pytest.approx(wrong.right)
    assert wrong.equation[-1].strip() == f"= {wrong.right:g}"
    assert 1 <= wrong.wrong_elements <= wrong.elements


def _fields(spec):
    return dict(
        stride=spec.stride,
        padding=spec.padding,
        dilation=spec.dilation,
        groups=spec.groups,
        mode=spec.mode,
    )


def test_a_forward_that_raises_is_a_failure_not_a_crash():
    def forward(x, w, *, stride):
        if max(stride) > 1:
            raise IndexError("stride not supported")
        return LoopConvolution().forward(
            x,
            w,
            stride=stride,
            padding=((0, 0),) * (x.ndim - 2),
            dilation=(1,) * (x.ndim - 2),
            groups=1,
            mode="cross-correlation",
        )

    report = check(forward, convention="numpy", examples=50)
    assert not report.ok
    assert report.failure.problem == "raised IndexError: stride not supported"
    assert max(report.failure.spec.stride) == 2 and report.failure.spec.input_size == (1,)
    # it took no padding, dilation or groups: those cases were not asked
    skipped = {c.case.name for c in report.cases if c.skipped}
    assert {"padding", "dilation", "groups", "convolution mode"} <= skipped


def test_a_numpy_function_is_asked_only_what_its_signature_takes():
    def forward(x, w, b=None, *, stride, padding):
        raise AssertionError("not called")

    limits = NumpyConvention().limits("forward", forward)
    assert limits.stride and limits.padding and limits.bias
    assert not (limits.dilation or limits.groups or limits.convolution_mode)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda x: x, "takes 1 positional arrays"),
        (lambda x, w, *, frobnicate: x, "parameter 'frobnicate'"),
    ],
)
def test_a_numpy_function_with_the_wrong_signature_is_refused_in_one_line(function, message):
    with pytest.raises(ValueError, match=message):
        check(function, convention="numpy")


def test_limits_meet_and_refuse_with_a_reason():
    both = Limits(ranks=(1, 2)).meet(Limits(ranks=(2, 3), dilation=False))
    assert both.ranks == (2,) and not both.dilation and both.stride
    from symconv import ConvSpec

    assert both.refusal(ConvSpec((5,), 2)) == "rank 1: not among the ranks asked"
    assert both.refusal(ConvSpec((5, 5), 2, dilation=2)) == "dilated: no dilation parameter"
    assert both.refusal(ConvSpec((5, 5), 2)) is None


def test_pytorchs_own_functions_pass():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    report = check(
        torch.nn.functional.conv2d,
        torch.nn.grad.conv2d_input,
        torch.nn.grad.conv2d_weight,
        convention="torch",
        ranks=(2,),
        examples=60,
    )
    assert report.ok, report.format()
    asymmetric = next(c for c in report.cases if c.case.name == "asymmetric padding")
    assert asymmetric.skipped == "the convention pads both sides alike"


def test_the_data_are_exact_quarters_and_the_same_for_the_same_layer():
    from symconv import ConvSpec

    spec = ConvSpec((4, 4), 2, in_channels=2, bias=True, dtype="float32")
    first, again = layer_arrays(spec), layer_arrays(spec)
    for key, array in first.items():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, again[key])
        quarters = array * 4
        assert np.all(quarters == np.round(quarters)) and np.all(array != 0)


def test_json_and_markdown_reports_carry_the_failure():
    import json

    report = _check("flip")
    data = json.loads(report.format("json"))
    assert data["ok"] is False
    failure = data["smallest_failure"]
    assert failure["kernel"] == "forward" and failure["layer"]["mode"] == "convolution"
    assert failure["equation"][0].startswith("O[0, 0, 0] = ")
    markdown = report.format("markdown")
    assert "| convolution mode | ok" not in markdown
    assert "| case | forward | grad_input | grad_weight | what it catches |" in markdown
    assert "```" in markdown and "**Wrong.**" in markdown


# ----- whatever the function does is a finding about a case, never the end of the check -------
def right_forward(x, w, *, stride=None, padding=None, dilation=None, groups=1, mode=None):
    rank = x.ndim - 2
    return LoopConvolution().forward(
        x,
        w,
        stride=stride or (1,) * rank,
        padding=padding or ((0, 0),) * rank,
        dilation=dilation or (1,) * rank,
        groups=groups,
        mode=mode or "cross-correlation",
    )


def test_sys_exit_in_the_function_is_reported_against_each_case():
    import sys

    def forward(x, w, *, stride):
        if max(stride) > 1:
            sys.exit(0)
        return right_forward(x, w, stride=stride)

    report = check(forward, convention="numpy", examples=0)
    assert not report.ok
    failed = {c.case.name for c in report.failed_cases}
    assert {"leftover rows", "stride > kernel"} <= failed
    text = report.format()
    assert "FAIL raised SystemExit(0) (it called sys.exit)" in text
    assert text.splitlines()[-2].startswith("verdict: WRONG")


def test_a_call_that_never_returns_times_out_against_its_case():
    def forward(x, w, *, stride):
        while max(stride) > 1:
            pass
        return right_forward(x, w, stride=stride)

    report = check(forward, convention="numpy", examples=0, timeout=0.2)
    leftover = next(c for c in report.cases if c.case.name == "leftover rows")
    assert leftover.worst("forward").problem == "did not return within 0.2 s (--timeout)"
    assert next(c for c in report.cases if c.case.name == "plain").ok


def test_the_timeout_works_off_the_main_thread_too():
    """Off the main thread a hung call is left behind on its own thread: this one gives up
    after 2 s, so it does not spin for the rest of the test session."""
    import threading
    import time

    found = {}

    def forward(x, w, *, stride):
        deadline = time.monotonic() + 2
        while max(stride) > 1 and time.monotonic() < deadline:
            pass
        return right_forward(x, w, stride=stride)

    def run():
        found["report"] = check(forward, convention="numpy", examples=0, timeout=0.2)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(120)
    leftover = next(c for c in found["report"].cases if c.case.name == "leftover rows")
    assert leftover.worst("forward").problem.startswith("did not return within 0.2 s")


def test_a_rank_that_raises_in_every_case_is_not_supported_and_left_out():
    """A correct 2-D-only convolution: ranks 1 and 3 raise everywhere, rank 2 is right."""

    def forward(x, w, *, stride, padding, dilation, groups, mode):
        if x.ndim != 4:
            raise TypeError(f"expected a 4-D input, got {x.ndim}-D")
        return right_forward(x, w, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, mode=mode)  # fmt: skip

    report = check(forward, convention="numpy", examples=20)
    assert report.ok, report.format()
    assert report.unsupported == {
        1: "forward: every case raised TypeError: expected a 4-D input, got 3-D",
        3: "forward: every case raised TypeError: expected a 4-D input, got 5-D",
    }
    text = report.format()
    assert "rank 1: not supported, forward: every case raised TypeError: expected a 4-D" in text
    assert "pass --ranks 2 to check only the ranks it takes" in text
    assert text.splitlines()[-2] == "verdict: all cases pass (rank 1, 3 not supported)"
    assert report.to_dict()["unsupported_ranks"]["3"].startswith("forward: every case raised")


def test_a_rank_that_raises_in_some_cases_only_is_wrong():
    def forward(x, w, *, stride):
        if x.ndim == 3 and max(stride) > 1:
            raise TypeError("no strided 1-D")
        return right_forward(x, w, stride=stride)

    report = check(forward, convention="numpy", examples=60)
    assert not report.ok and not report.unsupported
    assert report.failure.spec.rank == 1 and report.failure.raised == "TypeError: no strided 1-D"


def test_precision_mutation_none_and_nan_each_get_a_precise_line():
    def half(x, w, *, stride):
        return right_forward(x, w, stride=stride).astype(np.float16)

    def changes_x(x, w, *, stride):
        y = right_forward(x, w, stride=stride)
        x[...] = 0
        return y

    def nothing(x, w, *, stride):
        return None

    def nan(x, w, *, stride):
        y = right_forward(x, w, stride=stride).astype(x.dtype)
        y.flat[1] = np.nan
        return y

    def problem(function) -> str:
        report = check(function, convention="numpy", examples=0)
        return next(c for c in report.cases if c.case.name == "plain").worst("forward").problem

    assert problem(half).startswith("returned float16, less precise than the layer's float")
    assert problem(changes_x) == "changed its input x in place"
    assert problem(nothing).startswith("returned None, expected a float")
    assert problem(nan).startswith("NaN at [0, 0, 0, 1] (0-based) where the right value is ")


def test_the_report_displays_itself_in_a_repl_and_a_notebook():
    report = _check(None, examples=0)
    assert str(report) == report.format("text")
    assert repr(report).startswith("<CheckReport of ") and len(repr(report)) < 300
    assert report._repr_markdown_() == report.format("markdown")
