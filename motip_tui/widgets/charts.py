"""plotext charts inside Textual (textual-plotext): metrics per epoch, loss, grad norm and lr per step.

Drawing cost grows with points, so series are downsampled to about two points per column, keeping each bucket's
min and max (spikes stay visible). textual-plotext's log scale crashes on the second render: a log axis is drawn on
log10 values with ticks labelled in real values (``motip_tui.chartmath.log_ticks``).

``Chart.draw_plot(PlotSpec)`` draws what ``motip_tui/widgets/charts_view.py`` computed (lines, y-range, ticks,
target line, a note at the panel's edge). Downsampling is ``motip_tui.chartmath``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual_plotext import PlotextPlot


@dataclass
class Line:
    """One series: ``marker`` draws the line (``braille``: finest); ``point_marker`` (a letter) marks each point,
    which tells series of one colour apart (HOTA ``H``, IDF1 ``I``)."""

    xs: list[float]
    ys: list[float]
    color: Any
    marker: str = "braille"
    point_marker: str | None = None


@dataclass
class PlotSpec:
    lines: list[Line] = field(default_factory=list)
    y_range: tuple[float, float] | None = None
    y_ticks: tuple[list[float], list[str]] | None = None
    x_ticks: tuple[list[float], list[str]] | None = None
    x_range: tuple[float, float] | None = None
    hline: float | None = None  # drawn only inside y_range
    hline_color: Any = "red"
    edge_note: str | None = None  # e.g. "▲54": a value outside the range, written at the top (or bottom) edge
    edge_top: bool = True
    frame: bool = True
    ref_lines: list[tuple[float, Any]] = field(default_factory=list)  # (value, colour): other horizontal lines


class Chart(PlotextPlot):
    """One chart panel, drawn from a ``PlotSpec`` (``draw_plot``)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's widget `id`
        super().__init__(id=id)
        self.points = 0  # points drawn last time (tests and the bench read it)
        self.spec: PlotSpec | None = None  # what draw_plot drew last (tests read it)

    def draw_plot(self, spec: PlotSpec) -> None:
        if spec == self.spec and self.points:
            return  # unchanged (an overlay's panel while only the selected run grows): no plotext rebuild
        plt = self.plt
        plt.clear_figure()
        plt.frame(spec.frame)
        self.spec = spec
        self.points = 0
        xs_all: list[float] = []
        for line in spec.lines:
            if not line.xs:
                continue
            plt.plot(line.xs, line.ys, color=line.color, marker=line.marker)
            if line.point_marker:
                plt.scatter(line.xs, line.ys, color=line.color, marker=line.point_marker)
            self.points += len(line.xs)
            xs_all += (line.xs[0], line.xs[-1])
        if spec.y_range is not None:
            low, high = spec.y_range
            plt.ylim(low, high)
            if spec.hline is not None and low <= spec.hline <= high and self.points:
                plt.horizontal_line(spec.hline, color=spec.hline_color)
            for value, color in spec.ref_lines:
                if low <= value <= high:
                    plt.horizontal_line(value, color=color)
            if spec.edge_note and xs_all:
                plt.text(spec.edge_note, max(xs_all), high if spec.edge_top else low, alignment="right",
                         color=spec.hline_color)
        if spec.x_range is not None:
            plt.xlim(*spec.x_range)
        if spec.y_ticks is not None:
            plt.yticks(*spec.y_ticks)
        if spec.x_ticks is not None:
            plt.xticks(*spec.x_ticks)
        self.refresh()


__all__ = ["Chart", "Line", "PlotSpec"]
