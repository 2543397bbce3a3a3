"""Pooling figures against a brute-force routing, and every printer's output: SVG that
parses, TikZ that pdflatex compiles, the `symconv draw` command, and the Markdown index."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symconv.cli import main
from symconv.draw import draw
from symconv.draw.layout import MARK_STROKE
from symconv.draw.model import Role
from symconv.kinds import ConvSpec, PoolSpec
from symconv.render import render
from symconv.symbolic.derive import derive
from tests.pool_strategies import pool_specs
from tests.strategies import conv_specs

SVG = "{http://www.w3.org/2000/svg}"


def brute_force_routes(spec: PoolSpec, plane: np.ndarray) -> dict:
    """Input position -> windows that send it their gradient, by scanning each window."""
    routes: dict = {}
    pads = [a.lo for a in spec.window_axes]
    for j in np.ndindex(*spec.output_size):
        cells = []
        for t in np.ndindex(*spec.kernel_size):
            p = tuple(s * q + u - lo for s, q, u, lo in zip(spec.stride, j, t, pads))
            if all(0 <= v < n for v, n in zip(p, spec.input_size)):
                cells.append(p)
        if spec.kind == "max":
            cells = [max(cells, key=lambda p: plane[p])] if cells else []  # distinct values
        for p in cells:
            routes.setdefault(p, []).append(j)
    return routes


@settings(max_examples=30, deadline=None)
@given(pool_specs(), st.randoms(use_true_random=False))
def test_routed_gradient_is_the_brute_force_routing(spec: PoolSpec, random) -> None:
    count = int(np.prod(spec.input_size))
    plane = np.array(random.sample(range(1, 10 * count + 1), count), float).reshape(spec.input_size)
    figure = draw(spec, values=plane).figure("pooling")
    routed = figure.panels[2]
    expected = brute_force_routes(spec, plane)
    for i in np.ndindex(*spec.input_size):
        cell = routed.cells[i]
        assert (cell.role is Role.ROUTED) == (i in expected), i
    for frame in figure.frames:
        (j,) = frame.marks[1]
        assert frame.marks[2] == {i for i, windows in expected.items() if j in windows}


def test_max_pool_cell_of_two_windows_names_both() -> None:
    spec = PoolSpec("max", (3, 3), 2, stride=1)
    plane = np.array([[1, 2, 3], [4, 9, 5], [6, 7, 8]], float)
    routed = draw(spec, values=plane).figure("pooling").panels[2]
    assert routed.cells[1, 1].text == "Σ of 4 ∂L/∂P"  # 9 wins all four windows
    assert routed.cells[0, 0].role is Role.EMPTY


@settings(max_examples=15, deadline=None)
@given(conv_specs(max_rank=3, max_batch=1, groups=(1, 2)))
def test_every_svg_parses_and_marks_its_still_frame(spec: ConvSpec) -> None:
    drawing = draw(spec)
    for figure in drawing.figures:
        root = ElementTree.fromstring(drawing.svg(figure.name))
        assert root.tag == f"{SVG}svg"
        marked = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == MARK_STROKE]
        page = drawing.page(figure.name)
        assert len(marked) == len(page.still_marks)
        placed = page.frames
        if figure.animated and len(figure.frames) > 1:
            animated = ElementTree.fromstring(drawing.svg(figure.name, animated=True))
            assert len(list(animated.iter(f"{SVG}animate"))) == len(placed)


def tikz_installed() -> bool:
    return shutil.which("kpsewhich") is not None and bool(
        subprocess.run(["kpsewhich", "tikz.sty"], capture_output=True, text=True).stdout.strip()
    )


@pytest.mark.parametrize(
    "spec",
    [
        ConvSpec(input_size=(5, 5), kernel_size=3, stride=2, padding=((1, 0), (0, 1))),
        ConvSpec(input_size=(9,), kernel_size=3, dilation=2, stride=2),
        ConvSpec(input_size=(3, 4, 4), kernel_size=2, in_channels=2, out_channels=2),
    ],
    ids=["strided-2d", "dilated-1d", "3d"],
)
def test_latex_with_tikz_figures_compiles(spec, compile_latex) -> None:
    if not tikz_installed():
        pytest.skip("TikZ is not installed (Debian: apt-get install texlive-pictures)")
    from symconv.draw.drawing import pictures

    latex = render(derive(spec), "latex", pictures=pictures([draw(spec)], "latex"))
    assert latex.count(r"\begin{tikzpicture}") == len(draw(spec).figures)
    compile_latex(latex)


def test_draw_command_writes_figures_and_an_index(tmp_path, capsys) -> None:
    status = main(
        [
            "draw",
            "--input",
            "6x6",
            "--kernel",
            "3",
            "--stride",
            "2",
            "--pool",
            "max:2",
            "--no-png",
            "-o",
            str(tmp_path / "figures"),
        ]
    )
    assert status == 0
    written = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "index.md" in written
    assert "conv2d_1x1x6x6_to1_k3x3_s2_grad_input_animated.svg" in written
    assert "maxpool2d_1x1x2x2_k2x2_s2_pooling.svg" in written
    index = (tmp_path / "figures" / "index.md").read_text()
    for name in written:
        if name.endswith(".svg"):
            assert f"({name})" in index
    assert "wrote" in capsys.readouterr().err


def test_draw_refuses_a_file_it_did_not_write(tmp_path, capsys) -> None:
    (tmp_path / "index.md").write_text("my notes\n")
    status = main(["draw", "--no-png", "-o", str(tmp_path)])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "index.md" in error and "not written by symconv" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.md"]  # nothing else written
    assert (tmp_path / "index.md").read_text() == "my notes\n"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--stride", "0"], "stride"),
        (["--winograd", "x"], "--winograd"),
        (["--values", "1,2"], "--values"),
    ],
)
def test_draw_bad_input_is_one_line(argv, words, tmp_path, capsys) -> None:
    status = main(["draw", "-o", str(tmp_path / "out"), *argv])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and words in error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_png_where_matplotlib_is_installed(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="PNG figures need matplotlib (optional)")
    drawing = draw(ConvSpec(input_size=(4, 4), kernel_size=2))
    pngs = [p for p in drawing.write(tmp_path, png=True) if p.suffix == ".png"]
    assert len(pngs) == len(drawing.figures) == 4  # forward, ∂L/∂X, ∂L/∂F, Winograd
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


@settings(max_examples=20, deadline=None)
@given(conv_specs(max_rank=3, max_batch=1, groups=(1, 2), max_padding=3))
def test_text_figures_fit_100_columns_and_bracket_the_still_window(spec: ConvSpec) -> None:
    from symconv.draw.text import write_text

    drawing = draw(spec)
    for figure in drawing.figures:
        text = write_text(figure, drawing.names)
        assert max(len(line) for line in text.splitlines()) <= 100
        if figure.frames:
            assert "[" in text


def test_every_derive_format_carries_the_figures(tmp_path) -> None:
    from symconv.draw.drawing import drawings_of, pictures

    spec = ConvSpec(input_size=(5, 5), kernel_size=3, stride=2)
    derivation = derive(spec)
    drawings = drawings_of(derivation)
    titles = [f.title for f in drawings[0].figures]
    for fmt in ("text", "markdown"):
        printed = render(derivation, fmt, pictures=pictures(drawings, fmt))
        assert all(title in printed for title in titles), fmt
    latex = render(derivation, "latex", pictures=pictures(drawings, "latex"))
    assert latex.count(r"\begin{tikzpicture}") == len(titles)
    text = render(derivation, "text", pictures=pictures(drawings, "text"))
    assert "[∂L/∂O11]" in text and "[F33]" in text  # the rotated filter's window, in brackets
    notebook = render(derivation, "markdown", notebook=True,
                      pictures=pictures(drawings, "markdown", notebook=True))  # fmt: skip
    assert notebook.count("data:image/svg+xml;base64,") == len(titles)
    assert drawings[0]._repr_html_().count("<svg") == len(titles)


def test_a_layer_too_large_to_draw_is_refused_in_one_line(capsys) -> None:
    assert main(["draw", "--input", "1000x1000", "--kernel", "3", "-o", "unused"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "1,004,004 cells" in error


def test_html_without_its_libraries_is_one_line(monkeypatch, tmp_path, capsys) -> None:
    import symconv.render.html as html

    monkeypatch.setattr(html, "available", lambda: html.INSTALL_HINT)
    out = tmp_path / "page.html"
    assert main(["derive", "--format", "html", "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "latex2mathml" in error
    assert not out.exists()


def test_symconv_draw_is_callable_however_it_was_imported() -> None:
    import symconv
    import symconv.draw.drawing  # noqa: F401  (the package imported as a module first)

    drawing = symconv.draw(ConvSpec(input_size=(3, 3), kernel_size=2))
    assert [f.name for f in drawing.figures][:3] == ["forward", "grad_input", "grad_weight"]
    assert "draw" in symconv.__all__
