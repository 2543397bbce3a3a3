"""The `symconv` command: one module per subcommand, registered in `COMMANDS`.

Every user error (a `ValueError` from validation, a bad flag) becomes one line on
stderr and exit status 2, never a traceback; Ctrl-C becomes "symconv: interrupted"
and status 130 at any moment, imports included: the subcommands (which import SymPy,
NumPy and Numba) are imported inside `main`, where the interruption is caught.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType

from symconv.version import __version__

#: The subcommands' modules under symconv.cli, in the order `symconv --help` lists them.
COMMANDS = ("derive", "draw", "generate", "verify", "check", "bench")


def command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"symconv.cli.{name}") for name in COMMANDS]


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
    for command in command_modules():
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


def quiet_broken_pipe() -> int:
    """The reader of our output went away (``symconv ... | head``): stop without a word,
    as other Unix tools do, with the status of a process ended by SIGPIPE.

    Python would still try to flush stdout at exit and complain, so stdout is pointed at
    the null device first (the recipe of Python's documentation on SIGPIPE).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13  # SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("symconv: interrupted", file=sys.stderr)
        return 130


def option_without_command(argv: Sequence[str]) -> str | None:
    """The error for a command's option given first (``symconv --input 8x3x8x8``): argparse
    would take the option's value for the command and call it an invalid choice."""
    if not argv or not argv[0].startswith("-"):
        return None
    option = argv[0].split("=", 1)[0]
    if option in ("-h", "--help", "--version"):
        return None
    return (
        f"{option} belongs to a command; put the command first, as in symconv derive "
        f"{option} … (commands: {', '.join(COMMANDS)})"
    )


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    tokens = attach_negative_values(sys.argv[1:] if argv is None else argv)
    misplaced = option_without_command(tokens)
    if misplaced:
        parser.error(misplaced)
    args = parser.parse_args(tokens)
    try:
        if args.command is None:
            from symconv.cli import main_job

            status = main_job.run()
        else:
            status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled
        return status
    except BrokenPipeError:
        return quiet_broken_pipe()
    except (ValueError, RuntimeError, OSError) as error:
        if os.environ.get("SYMCONV_DEBUG"):
            raise
        print(f"symconv: error: {describe(error)}", file=sys.stderr)
        return 2
