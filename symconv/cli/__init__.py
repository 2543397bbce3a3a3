"""The `symconv` command: one module per subcommand, registered in `COMMANDS`.

Every user error (a `ValueError` from validation, a bad flag) becomes one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from symconv.cli import bench, check, derive, generate, main_job, verify
from symconv.version import __version__

COMMANDS = (derive, generate, verify, check, bench)


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage on error; a user needs only the reason."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="symconv",
        description="Derive, print, generate and verify one convolution layer exactly. "
        "With no command: the whole pipeline on the lecture example.",
    )
    parser.add_argument("--version", action="version", version=f"symconv {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineParser
    )
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(run=command.run)
    return parser


def describe(error: Exception) -> str:
    """One line: the OS's reason and the path for file errors, the message otherwise."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"cannot write or read {error.filename}: {error.strerror}"
    return str(error)


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``--input -3x3`` -> ``--input=-3x3``, so the value reaches its check.

    argparse takes a token starting with ``-`` for an option (unless it is a plain
    number) and would say "expected one argument"; joined, the flag's own check says
    what is wrong with the value.
    """
    out: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        follows = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith("--") and "=" not in token and re.match(r"-[0-9.]", follows):
            out.append(f"{token}={follows}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        if args.command is None:
            return main_job.run()
        return args.run(args)
    except (ValueError, RuntimeError, OSError) as error:
        if os.environ.get("SYMCONV_DEBUG"):
            raise
        print(f"symconv: error: {describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symconv: interrupted", file=sys.stderr)
        return 130
