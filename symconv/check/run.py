"""Run someone's functions on one layer and compare each result with the reference.

The data are multiples of 1/4 between -2 and 2 (never 0): every product and every
sum of a small layer is then exact in float32 and float64, so any difference from
the reference is a bug, not rounding, and the numbers in the printed equation stay
short enough to read.

Whatever the function does is a finding about that case, never the end of the check:
an exception (SystemExit included: `sys.exit` in someone's code must not end the
check with a status that reads as a pass), a call that does not return within the
time limit, a result that is not an array, has the wrong shape, holds NaN where the
answer is a number, or is held in a type less precise than the layer's (float16
would pass the exact quarters unnoticed), and a function that changes its inputs.
Only Ctrl-C (KeyboardInterrupt) stops the check.
"""

from __future__ import annotations

import json
import signal
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from symconv import reference
from symconv.check.conventions import Convention, UserFunction, as_numpy
from symconv.kinds import TOLERANCES, ConvSpec, relative_error

#: Seconds a call may take before it counts as hung (`check(timeout=...)`, `--timeout`).
TIMEOUT = 10.0


@dataclass(frozen=True)
class Outcome:
    """One function on one layer: its error against the reference, and what it returned.

    `problem` says why there is no error to speak of (it raised, hung, returned no
    array, ...); `raised` keeps the exception's one-line text when it raised.
    """

    kernel: str
    spec: ConvSpec
    error: float
    arrays: dict[str, np.ndarray]
    want: np.ndarray
    got: np.ndarray | None = None
    problem: str | None = None
    raised: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.error <= TOLERANCES[self.spec.dtype]


def layer_arrays(spec: ConvSpec) -> dict[str, np.ndarray]:
    """x, w, gy (and b) for `spec`: exact quarters, the same for the same layer every time."""
    seed = zlib.crc32(json.dumps(spec.to_dict(), sort_keys=True).encode())
    rng = np.random.default_rng(seed)
    shapes = {"x": spec.input_shape, "w": spec.weight_shape, "gy": spec.output_shape}
    if spec.bias:
        shapes["b"] = spec.bias_shape
    arrays = {}
    for key, shape in shapes.items():
        quarters = rng.integers(1, 9, size=shape) * rng.choice((-1, 1), size=shape)
        arrays[key] = (quarters / 4).astype(spec.dtype)
    return arrays


def expected(kernel: str, spec: ConvSpec, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The reference's answer for `kernel`."""
    if kernel == "forward":
        return reference.forward(spec, arrays["x"], arrays["w"], arrays.get("b"))
    if kernel == "grad_input":
        return reference.grad_input(spec, arrays["gy"], arrays["w"])
    return reference.grad_weight(spec, arrays["x"], arrays["gy"])


class CallTimeout(BaseException):
    """The user's call ran past its time limit (a BaseException: `except Exception` in the
    user's code must not swallow it)."""


def run_one(
    kernel: str,
    function: UserFunction,
    spec: ConvSpec,
    convention: Convention,
    arrays: dict[str, np.ndarray],
    timeout: float | None = TIMEOUT,
) -> Outcome:
    """Call the function on `spec`'s data and judge what it did (see the module docstring)."""
    want = np.asarray(expected(kernel, spec, arrays), dtype=np.float64)
    call = convention.arguments(kernel, function, spec, arrays)
    failed = _failure(kernel, spec, arrays, want)
    try:
        value = within(timeout, lambda: function(*call.args, **call.kwargs))
    except CallTimeout:
        return failed(f"did not return within {timeout:g} s (--timeout)")
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - the user's code may raise anything
        text = one_line(error)
        return failed(f"raised {text}", raised=text)
    changed = [name for name, given in call.given.items() if _changed(given, arrays[name])]
    if changed:
        return failed(f"changed its input {', '.join(changed)} in place")
    got, problem = result_array(value, spec.dtype, want.shape)
    if problem is not None:
        return failed(problem, got=got)
    misplaced = _misplaced_special(got, want)
    if misplaced is not None:
        return failed(misplaced, got=got)
    _, relative = relative_error(got, want)
    return Outcome(kernel, spec, relative, arrays, want, got)


def _failure(kernel: str, spec: ConvSpec, arrays: dict, want: np.ndarray) -> Callable[..., Outcome]:
    def failed(problem: str, got: np.ndarray | None = None, raised: str | None = None) -> Outcome:
        return Outcome(kernel, spec, np.inf, arrays, want, got, problem, raised)

    return failed


def one_line(error: BaseException) -> str:
    """``TypeError: the first line of its message``; SystemExit says its code."""
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}) (it called sys.exit)"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def result_array(
    value: Any, dtype: str, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, str | None]:
    """(the result as float64, None), or (what there is, why it is not an answer)."""
    expected = f"a {dtype} array of shape {shape}"
    if value is None:
        return None, f"returned None, expected {expected}"
    try:
        array = as_numpy(value)
    except Exception as error:  # noqa: BLE001 - an object that will not become an array
        return None, f"returned a {type(value).__name__}, not an array ({one_line(error)})"
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        return None, f"returned a {type(value).__name__} of {array.dtype}, expected {expected}"
    if array.shape != shape:
        return None, f"returned shape {array.shape}, expected {shape}"
    if not np.issubdtype(array.dtype, np.floating) or _less_precise(array.dtype, dtype):
        kind = array.dtype.name
        return array.astype(np.float64), (
            f"returned {kind}, less precise than the layer's {dtype} (the check's exact "
            "quarters would hide the rounding)"
        )
    return array.astype(np.float64), None


def _less_precise(given: np.dtype, dtype: str) -> bool:
    return np.finfo(given).precision < np.finfo(np.dtype(dtype)).precision


def _misplaced_special(got: np.ndarray, want: np.ndarray) -> str | None:
    """Where the result holds NaN or ±inf and the answer is a number (the first such)."""
    bad = ~np.isfinite(got) & np.isfinite(want)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    value = got[index]
    kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    count = int(bad.sum())
    more = f" ({count} elements in all)" if count > 1 else ""
    return (
        f"{kind} at [{', '.join(map(str, index))}] (0-based) where the right value is "
        f"{want[index]:g}{more}"
    )


def _changed(given: Any, original: np.ndarray) -> bool:
    try:
        now = as_numpy(given)
    except Exception:  # noqa: BLE001 - replaced by something that is no array at all
        return True
    return now.shape != original.shape or not np.array_equal(now, original, equal_nan=True)


def within(seconds: float | None, call: Callable[[], Any]) -> Any:
    """`call()`, raising `CallTimeout` after `seconds` (None: no limit).

    On the main thread a timer signal interrupts the call where it is (a loop in Python
    is stopped; a call into C code is stopped when it returns to Python).  Elsewhere
    the call runs on a daemon thread that is left behind if it does not return.
    """
    if seconds is None:
        return call()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(seconds):
            return call()
    return _on_a_thread(call, seconds)


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise CallTimeout

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _on_a_thread(call: Callable[[], Any], seconds: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            box["error"] = error

    worker = threading.Thread(target=target, daemon=True, name="symconv-check-call")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CallTimeout
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_layer(
    spec: ConvSpec,
    functions: dict[str, UserFunction],
    convention: Convention,
    timeout: float | None = TIMEOUT,
) -> list[Outcome]:
    arrays = layer_arrays(spec)
    return [
        run_one(kernel, f, spec, convention, arrays, timeout) for kernel, f in functions.items()
    ]
