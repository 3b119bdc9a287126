"""Bar charts as plain geometry for inline SVG in templates (no JavaScript, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass

COLOURS = ("#075e54", "#b35900", "#3b4ba8", "#8a1c4a")  # AA contrast on white


@dataclass(frozen=True)
class Bar:
    """One bar: its box, value, colour and label for screen readers."""

    x: float
    y: float
    width: float
    height: float
    value: int
    colour: str
    label: str


@dataclass(frozen=True)
class Chart:
    """A grouped vertical bar chart."""

    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # x centre, label
    legend: list[tuple[str, str]]  # colour, name
    top: int
    baseline: float


def grouped(
    labels: list[str], series: dict[str, list[int]], width: int = 720, height: int = 240
) -> Chart:
    """Return a grouped bar chart: one group per label, one bar per series."""
    left, bottom, top = 30.0, 30.0, 10.0
    peak = max([1, *(v for values in series.values() for v in values)])
    plot_h = height - bottom - top
    group_w = (width - left) / max(1, len(labels))
    bar_w = max(2.0, (group_w - 6) / max(1, len(series)))
    bars: list[Bar] = []
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, value in enumerate(values):
            h = plot_h * value / peak
            bars.append(
                Bar(
                    x=left + i * group_w + 3 + s * bar_w,
                    y=top + plot_h - h,
                    width=bar_w - 1,
                    height=h,
                    value=value,
                    colour=colour,
                    label=f"{name}, {labels[i]}: {value}",
                )
            )
    ticks = [(left + (i + 0.5) * group_w, label) for i, label in enumerate(labels)]
    legend = [(COLOURS[s % len(COLOURS)], name) for s, name in enumerate(series)]
    return Chart(width, height, bars, ticks, legend, peak, top + plot_h)


def horizontal(totals: dict[str, int], width: int = 720, row: int = 22) -> Chart:
    """Return a horizontal bar chart of totals, largest first."""
    items = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    label_w = 180.0
    peak = max([1, *totals.values()])
    bars = [
        Bar(
            x=label_w,
            y=i * row + 4,
            width=(width - label_w - 40) * value / peak,
            height=row - 8,
            value=value,
            colour=COLOURS[0],
            label=f"{name}: {value}",
        )
        for i, (name, value) in enumerate(items)
    ]
    ticks = [(i * row + row / 2 + 4, name) for i, (name, _v) in enumerate(items)]
    return Chart(width, max(row, len(items) * row + 8), bars, ticks, [], peak, 0)
