"""The layers a command works on: one from the spec flags, or every layer of a manifest."""

from __future__ import annotations

import argparse

from symconv.cli.spec_args import add_spec_flags, given_spec_flags, spec_from_args
from symconv.kinds import LayerSpec
from symconv.manifest import load_manifest


def add_layer_flags(parser: argparse.ArgumentParser) -> None:
    """derive's spec flags, plus --manifest for a TOML file of named layers."""
    add_spec_flags(parser)
    parser.add_argument(
        "--manifest", metavar="FILE", help="a TOML manifest of named layers (instead of the flags)"
    )


def manifest_given(args: argparse.Namespace, ignored: tuple[str, ...] = ()) -> bool:
    """True when --manifest names a file; refuses an empty one and layer flags beside it."""
    if args.manifest is None:
        return False
    if args.manifest == "":
        raise ValueError("--manifest is empty; name a TOML file")
    given = [flag for flag in given_spec_flags(args) if flag not in ignored]
    if given:
        raise ValueError(
            f"--manifest cannot be combined with the layer flags ({', '.join(given)}): "
            "the manifest names every layer"
        )
    return True


def layers_from_args(args: argparse.Namespace) -> dict[str, LayerSpec]:
    """Named, validated layers; the flags make one layer named after its label."""
    if manifest_given(args):
        return load_manifest(args.manifest)
    spec = spec_from_args(args)
    return {spec.label: spec}
