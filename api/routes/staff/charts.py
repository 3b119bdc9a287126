"""Bar charts as plain geometry for inline SVG in templates (no JavaScript, no CDN)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# AA contrast on white; the last two only for stacked charts' fifth series and "other".
COLOURS = ("#075e54", "#b35900", "#3b4ba8", "#8a1c4a")
STACK_COLOURS = (*COLOURS, "#6b3fa0", "#5f5f5f")


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


def stacked(
    labels: list[str],
    series: dict[str, list[int]],
    other: str = "Other",
    width: int = 360,
    height: int = 200,
) -> Chart:
    """Return a stacked bar chart: one bar per label, one segment per series (the largest
    series at the bottom). Past five series, all but the four largest are summed as
    `other`, so the colours stay few enough to tell apart; empty segments are left out."""
    keep = len(STACK_COLOURS) - 2
    ranked = sorted(
        ((name, values) for name, values in series.items() if sum(values)),
        key=lambda kv: (-sum(kv[1]), kv[0]),
    )
    colours = list(STACK_COLOURS[: len(ranked)])
    if len(ranked) > keep + 1:
        rest = [sum(values[i] for _name, values in ranked[keep:]) for i in range(len(labels))]
        ranked = [*ranked[:keep], (other, rest)]
        colours = [*STACK_COLOURS[:keep], STACK_COLOURS[-1]]
    left, bottom, top = 30.0, 30.0, 10.0
    plot_h = height - bottom - top
    peak = max([1, *(sum(values[i] for _n, values in ranked) for i in range(len(labels)))])
    slot = (width - left) / max(1, len(labels))
    bar_w = max(1.0, slot * 0.7)
    bars: list[Bar] = []
    for i, label in enumerate(labels):
        y = top + plot_h
        for (name, values), colour in zip(ranked, colours, strict=True):
            if not values[i]:
                continue
            h = plot_h * values[i] / peak
            y -= h
            bars.append(
                Bar(
                    x=left + i * slot + (slot - bar_w) / 2,
                    y=y,
                    width=bar_w,
                    height=h,
                    value=values[i],
                    colour=colour,
                    label=f"{name}, week of {label}: {values[i]}",
                )
            )
    # Label every `step`-th week so that labels (about 40 units wide) never overlap.
    step = max(1, math.ceil(len(labels) * 40 / (width - left)))
    ticks = [(left + (i + 0.5) * slot, label) for i, label in enumerate(labels) if i % step == 0]
    legend = [(colour, name) for (name, _values), colour in zip(ranked, colours, strict=True)]
    return Chart(width, height, bars, ticks, legend, peak, top + plot_h)
