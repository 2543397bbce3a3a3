"""The layers a command works on: one from the spec flags, or every layer of a manifest."""

from __future__ import annotations

import argparse

from symconv.cli.spec_args import add_spec_flags, spec_from_args
from symconv.kinds import ConvSpec
from symconv.manifest import load_manifest


def add_layer_flags(parser: argparse.ArgumentParser) -> None:
    """derive's spec flags, plus --manifest for a TOML file of named layers."""
    add_spec_flags(parser)
    parser.add_argument(
        "--manifest", metavar="FILE", help="a TOML manifest of named layers (instead of the flags)"
    )


def layers_from_args(args: argparse.Namespace) -> dict[str, ConvSpec]:
    """Named, validated layers; the flags make one layer named after its label."""
    if args.manifest:
        return load_manifest(args.manifest)
    spec = spec_from_args(args)
    return {spec.label: spec}
