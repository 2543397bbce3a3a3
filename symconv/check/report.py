"""What `symconv check` found, as text for a person, Markdown for a CI page, JSON for a tool."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from symconv.check.catalogue import Case
from symconv.check.conventions import CONVENTIONS
from symconv.check.explain import WrongElement
from symconv.check.run import Outcome
from symconv.kinds import ConvSpec


@dataclass(frozen=True)
class CaseResult:
    """One named case: skipped (with the reason), or the outcome of each function."""

    case: Case
    outcomes: tuple[Outcome, ...] = ()
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def worst(self, kernel: str) -> Outcome | None:
        mine = [o for o in self.outcomes if o.kernel == kernel]
        return max(mine, key=lambda o: o.error) if mine else None


@dataclass
class CheckReport:
    """Every case, the random search, and the smallest failure explained."""

    functions: dict[str, str]
    convention: str
    cases: list[CaseResult] = field(default_factory=list)
    searched: int = 0
    smallest: ConvSpec | None = None
    shrunk: bool = False
    failure: Outcome | None = None
    wrong: WrongElement | None = None
    seconds: float = 0.0
    #: Ranks a function raised on in every named case: not supported, left out (and why).
    unsupported: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None and all(c.ok for c in self.cases)

    def __str__(self) -> str:
        return self.format("text")

    def __repr__(self) -> str:
        verdict = (
            "all cases pass" if self.ok else f"WRONG ({len(self.failed_cases)} named cases fail)"
        )
        return f"<CheckReport of {', '.join(self.functions.values())}: {verdict}>"

    def _repr_markdown_(self) -> str:
        return self.format("markdown")

    @property
    def failed_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    # ----- text ----------------------------------------------------------------------
    def format(self, style: str = "text") -> str:
        if style == "json":
            return json.dumps(self.to_dict(), indent=2)
        return _Markdown(self).render() if style == "markdown" else _Text(self).render()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "convention": self.convention,
            "functions": self.functions,
            "seconds": round(self.seconds, 3),
            "cases": [_case_dict(c) for c in self.cases],
            "unsupported_ranks": {str(rank): why for rank, why in self.unsupported.items()},
            "search": {"layers_tried": self.searched, "found_failure": self.shrunk},
            "smallest_failure": None if self.failure is None else _failure_dict(self),
        }


def _error_text(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    if outcome.problem:
        return "FAIL " + outcome.problem
    return ("ok " if outcome.ok else "FAIL ") + (
        f"{outcome.error:.1e}" if math.isfinite(outcome.error) else "NaN/inf misplaced"
    )


def _case_dict(result: CaseResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": result.case.name,
        "catches": result.case.catches,
        "ok": result.ok,
    }
    if result.skipped:
        entry["skipped"] = result.skipped
        return entry
    for kernel in ("forward", "grad_input", "grad_weight"):
        worst = result.worst(kernel)
        if worst is not None:
            entry[kernel] = {
                "relative_error": worst.error if math.isfinite(worst.error) else None,
                "problem": worst.problem,
                "ok": worst.ok,
            }
    return entry


def _failure_dict(report: CheckReport) -> dict[str, Any]:
    failure, wrong = report.failure, report.wrong
    assert failure is not None
    entry: dict[str, Any] = {
        "kernel": failure.kernel,
        "layer": failure.spec.to_dict(),
        "layer_text": failure.spec.describe(),
        "shrunk": report.shrunk,
        "problem": failure.problem,
    }
    if wrong is not None:
        entry.update(
            index=list(wrong.index),
            got=wrong.got,
            right=wrong.right,
            equation=list(wrong.equation),
            wrong_elements=wrong.wrong_elements,
            elements=wrong.elements,
        )
    return entry


class _Text:
    """The report a person reads in a terminal."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report

    def kernels(self) -> list[str]:
        return [k for k in ("forward", "grad_input", "grad_weight") if k in self.report.functions]

    def render(self) -> str:
        r = self.report
        lines = [
            "symconv check: " + ", ".join(f"{k}={v}" for k, v in r.functions.items()),
            f"convention: {r.convention}",
            "",
        ]
        lines += self.case_table()
        lines += self.unsupported_lines()
        lines += ["", self.search_line(), ""]
        lines += self.failure_lines()
        lines += [self.verdict(), f"time: {r.seconds:.1f} s"]
        return "\n".join(lines)

    def verdict(self) -> str:
        r = self.report
        left_out = (
            f" (rank {', '.join(map(str, r.unsupported))} not supported)" if r.unsupported else ""
        )
        if r.ok:
            return f"verdict: all cases pass{left_out}"
        return (
            f"verdict: WRONG ({len(r.failed_cases)} of {len(r.cases)} named cases fail){left_out}"
        )

    def unsupported_lines(self) -> list[str]:
        r = self.report
        if not r.unsupported:
            return []
        lines = [""]
        lines += [f"rank {rank}: not supported, {why}" for rank, why in r.unsupported.items()]
        kept = sorted({c.outcomes[0].spec.rank for c in r.cases if c.outcomes} - set(r.unsupported))
        hint = (
            f"pass --ranks {','.join(map(str, kept))} to check only the ranks it takes"
            if kept
            else ""
        )
        lines.append(
            "  left out of the verdict and the random search" + (f"; {hint}" if hint else "")
        )
        return lines

    def rows(self) -> list[list[str]]:
        rows = []
        for result in self.report.cases:
            if result.skipped:
                cells = ["skipped: " + result.skipped] + [""] * (len(self.kernels()) - 1)
            else:
                cells = [_error_text(result.worst(k)) for k in self.kernels()]
            rows.append([result.case.name, *cells, result.case.catches])
        return rows

    def case_table(self) -> list[str]:
        """Columns as wide as their results; a skipped case's reason spans the result
        columns (it is not a result, and would widen one column for every row)."""
        header = ["case", *self.kernels(), "what it catches"]
        rows = self.rows()
        measured = [header] + [r for r, c in zip(rows, self.report.cases) if not c.skipped]
        widths = [max(len(r[i]) for r in measured) for i in range(len(header) - 1)]
        widths[0] = max(len(r[0]) for r in [header, *rows])
        span = sum(widths[1:]) + 2 * (len(widths) - 2)
        out = []
        for row, case in zip([header, *rows], [None, *self.report.cases]):
            if case is not None and case.skipped:
                cells = [row[0].ljust(widths[0]), row[1].ljust(span)]
            else:
                cells = [c.ljust(w) for c, w in zip(row, widths)]
            out.append("  ".join([*cells, row[-1]]).rstrip())
        return out

    def search_line(self) -> str:
        r = self.report
        if r.searched == 0:
            return "random search: not run"
        found = "a failing layer, shrunk below" if r.shrunk else "no failure"
        return f"random search: {r.searched} random layers tried, {found}"

    def failure_lines(self) -> list[str]:
        r = self.report
        if r.failure is None:
            return []
        f = r.failure
        origin = "smallest failing layer (shrunk)" if r.shrunk else "first failing named case"
        lines = [f"{origin}: {f.spec.describe()}", f"  {f.kernel}: {_error_text(f)}"]
        turned = getattr(CONVENTIONS.get(r.convention), "as_layer", None)
        if turned is not None:  # the user's function is a transposed convolution
            lines.insert(1, f"  as your transposed layer: {turned(f.spec).describe()}")
        if r.wrong is not None:
            w = r.wrong
            where = ", ".join(map(str, w.index))
            got = "nothing (it raised)" if w.got is None else f"{w.got:g}"
            lines += [
                f"  {w.wrong_elements} of {w.elements} elements wrong; the worst, [{where}] "
                f"(0-based): yours {got}, right {w.right:g}",
                "",
                *("  " + line for line in w.equation),
            ]
        return [*lines, ""]


class _Markdown(_Text):
    """The same report as Markdown: a table of cases, the failure in a code block."""

    def render(self) -> str:
        r = self.report
        lines = [
            "## symconv check",
            "",
            "Functions: " + ", ".join(f"`{k}` = `{v}`" for k, v in r.functions.items()),
            f"(convention `{r.convention}`).",
            "",
            "| case | " + " | ".join(self.kernels()) + " | what it catches |",
            "|" + " --- |" * (len(self.kernels()) + 2),
        ]
        for row in self.rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        unsupported = self.unsupported_lines()
        if unsupported:
            lines += ["", *(f"- {line.strip()}" for line in unsupported[1:])]
        lines += ["", self.search_line() + "."]
        failure = self.failure_lines()
        if failure:
            lines += ["", "```", *failure[:-1], "```"]
        status = "**All cases pass.**" if r.ok else "**Wrong.**"
        lines += ["", f"{status} Time: {r.seconds:.1f} s."]
        return "\n".join(lines)
