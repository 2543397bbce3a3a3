"""A laid-out figure as SVG: still (its first frame) or animated (every frame in turn).

The animation is SMIL (`<animate>` of each frame's visibility), which every modern
browser plays from a file or inline in HTML with no script; a viewer without SMIL
shows the last frame's marks hidden, so the still picture is written separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from symconv.codegen.templates import environment
from symconv.draw.layout import MARK_STROKE, Box, Page

#: Seconds each frame of an animation stays on screen.
FRAME_SECONDS = 0.8


@dataclass(frozen=True)
class FrameView:
    boxes: list[Box]
    caption: str
    values: str


def write_svg(page: Page, title: str, animated: bool = False) -> str:
    """The page as one SVG document; `animated` plays every frame, else the first only."""
    count = len(page.frames)
    if animated and count > 1:
        frames = [
            FrameView(
                boxes, caption, ";".join("visible" if k == i else "hidden" for k in range(count))
            )
            for i, (boxes, caption) in enumerate(zip(page.frames, page.captions))
        ]
    else:
        animated = False
        frames = [FrameView(page.still_marks, page.still_caption, "")] if count else []
    template = environment("draw").get_template("figure.svg.j2")
    return template.render(
        width=round(page.width, 2),
        height=round(page.height, 2),
        title=title,
        boxes=page.boxes,
        texts=page.texts,
        lines=page.lines,
        frames=frames,
        animated=animated,
        duration=round(FRAME_SECONDS * max(count, 1), 2),
        mark_stroke=MARK_STROKE,
        caption_x=page.caption_at[0],
        caption_y=page.caption_at[1],
    )
