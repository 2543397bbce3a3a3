"""The transposed convolution layer kind: `ConvTransposeSpec`, its kernels and oracles.

Its kernels are the convolution's, renamed: the layer is the ∂L/∂X of
`spec.convolution` run forward, so

    forward(x, w, b)   = convolution.grad_input(gy=x, w) + b
    grad_input(gy, w)  = convolution.forward(x=gy, w)
    grad_weight(x, gy) = convolution.grad_weight(x=gy, gy=x)
    grad_bias(gy)      = gy summed over the batch and every position

The pipeline generates the convolution's module (`lowered_as`), with the default choice
of its algorithms (stride phases and Winograd for the forward, the convolution's
forward algorithms for grad_input), on any target, and `adapt` wraps it under these
names.  The bias and grad_bias are the target's per-channel arithmetic
(`Kernels.channels`: NumPy on the CPU, CUDA kernels on the device).
"""

from __future__ import annotations

from typing import Any

from symconv.kinds.base import KernelSignature
from symconv.kinds.convolution import Convolution
from symconv.kinds.transposed import oracles
from symconv.kinds.transposed.spec import ConvTransposeSpec

__all__ = ["TRANSPOSED", "ConvTranspose", "ConvTransposeSpec", "TransposedKernels"]

#: Each kernel of the transposed layer: the convolution's kernel that computes it, and
#: which of this layer's arguments it takes as which of that kernel's.
AS_CONVOLUTION: dict[str, tuple[str, dict[str, str]]] = {
    "forward": ("grad_input", {"x": "gy", "w": "w"}),
    "grad_input": ("forward", {"gy": "x", "w": "w"}),
    "grad_weight": ("grad_weight", {"x": "gy", "gy": "x"}),
}


class ConvTranspose(Convolution):
    """forward(x, w, b), grad_input(gy, w), grad_weight(x, gy), grad_bias(gy): the tensors,
    their roles and random inputs are a convolution's; the kernels and oracles its own."""

    name = "transposed convolution"
    spec_class = ConvTransposeSpec
    #: Its oracles, from the scatter that defines it; `reference` and the PyTorch oracles
    #: are the convolution kind's methods, asking these.
    oracles = oracles

    def lowered_as(self, spec: ConvTransposeSpec) -> Any:
        return spec.convolution

    def schedules_for(self, spec: ConvTransposeSpec, schedules: dict | None) -> dict | None:
        """A schedule named for this layer's kernel, given to the convolution's kernel."""
        if not schedules:
            return schedules
        unknown = sorted(set(schedules) - set(AS_CONVOLUTION))
        if unknown:
            raise ValueError(
                f"schedules names {unknown[0]!r}; a transposed layer's lowered kernels are "
                + ", ".join(AS_CONVOLUTION)
            )
        return {AS_CONVOLUTION[name][0]: value for name, value in schedules.items()}

    def adapt(self, spec: ConvTransposeSpec, kernels: Any) -> TransposedKernels:
        return TransposedKernels(spec, kernels)

    def index_level(self, spec: ConvTransposeSpec):
        from symconv.kinds import CONVOLUTION

        return CONVOLUTION.index_level(spec.convolution)

    def signatures(self, spec: ConvTransposeSpec) -> tuple[KernelSignature, ...]:
        found = [
            KernelSignature(
                "forward", ("x", "w", "b"), "y",
                "y = x scattered through w (+ b): the convolution's dL/dx run forward.",
                absent=() if spec.bias else ("b",), absent_because="the spec has bias=False",
            ),
            KernelSignature("grad_input", ("gy", "w"), "gx",
                            "dL/dx: dL/dy correlated with w, the convolution's forward."),
            KernelSignature("grad_weight", ("x", "gy"), "gw",
                            "dL/dw: dL/dy's windows times x, summed over the batch."),
        ]  # fmt: skip
        if spec.bias:
            summary = "dL/db: dL/dy summed over the batch and positions."
            found.append(KernelSignature("grad_bias", ("gy",), "gb", summary))
        return tuple(found)


class TransposedKernels:
    """The kernels of a transposed layer: its convolution's compiled kernels, renamed.

    Each call checks its arguments under this layer's names and shapes first, so an
    error names ``x`` of the transposed layer, not the convolution's ``gy``.
    """

    def __init__(self, spec: ConvTransposeSpec, convolution: Any) -> None:
        self._spec = spec
        self._convolution = convolution
        self._shapes = TRANSPOSED.tensor_shapes(spec)
        self._signatures = {s.name: s for s in TRANSPOSED.signatures(spec)}

    @property
    def spec(self) -> ConvTransposeSpec:
        return self._spec

    @property
    def convolution(self) -> Any:
        """The convolution's kernels these are."""
        return self._convolution

    @property
    def path(self):
        return self._convolution.path

    @property
    def module(self):
        return self._convolution.module

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return self._shapes

    @property
    def kernel_names(self) -> tuple[str, ...]:
        return tuple(self._signatures)

    @property
    def algorithms(self) -> dict[str, str]:
        chosen = self._convolution.algorithms
        found = {name: chosen.get(conv, "") for name, (conv, _) in AS_CONVOLUTION.items()}
        if self._spec.bias:
            found["grad_bias"] = self._convolution.channels.name
        return found

    @property
    def threads(self) -> dict[str, int]:
        chosen = self._convolution.threads
        return {name: chosen.get(conv, 0) for name, (conv, _) in AS_CONVOLUTION.items()}

    def _call(self, name: str, given: dict[str, object], out: object = None) -> Any:
        conv_name, renamed = AS_CONVOLUTION[name]
        kernel = getattr(self._convolution, conv_name)
        checked = {n: kernel.check(n, v, self._shapes[n]) for n, v in given.items()}
        return kernel.call_checked({renamed[n]: v for n, v in checked.items()}, out)

    def forward(self, x, w, b=None, out=None):
        """y = x scattered through w (+ b)."""
        signature = self._signatures["forward"]
        if b is not None and "b" in signature.absent:
            raise ValueError(f"b was given, but {signature.absent_because}")
        if b is None and "b" not in signature.absent:
            raise ValueError("b is required: forward takes (x, w, b)")
        bias = None if b is None else self._convolution.forward.check("b", b, self._spec.bias_shape)
        y = self._call("forward", {"x": x, "w": w}, out)
        return y if bias is None else self._convolution.channels.add_bias(y, bias)

    def grad_input(self, gy, w, out=None):
        """dL/dx: dL/dy correlated with w."""
        return self._call("grad_input", {"gy": gy, "w": w}, out)

    def grad_weight(self, x, gy, out=None):
        """dL/dw: dL/dy's windows times x, summed over the batch."""
        return self._call("grad_weight", {"x": x, "gy": gy}, out)

    def grad_bias(self, gy, out=None):
        """dL/db: dL/dy summed over the batch and every position."""
        if "grad_bias" not in self._signatures:
            raise AttributeError(f"{self._spec.label} has no kernel 'grad_bias' (bias=False)")
        gy = self._convolution.forward.check("gy", gy, self._spec.output_shape)
        return self._convolution.channels.channel_sums(gy, out)

    def __repr__(self) -> str:
        return f"TransposedKernels({self._spec.label}, {self._spec.dtype}, path={str(self.path)!r})"


TRANSPOSED = ConvTranspose()
