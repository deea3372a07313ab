"""The report's charts as inline SVG drawn here (no JavaScript, so the PDF printer needs nothing but the HTML): a
radar of the four dimensions, bars of the sub-dimensions and the trend lines. Scores are 0–100; a missing score is
left out (a gap in a line, no bar, the radar's point at the centre marked 无数据)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

PALETTE = ("#1d4e89", "#e4572e", "#2a9d8f", "#f29e4c", "#7b2cbf")
FONT = "font-family=\"'Noto Sans CJK SC','Noto Serif CJK SC',sans-serif\""


def _t(x: float, y: float, text: str, *, size: int = 12, anchor: str = "middle", fill: str = "#333") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" {FONT}>'
            f"{escape(text)}</text>")


def radar(axes: list[tuple[str, float | None]], *, size: int = 320) -> str:
    """A radar of ``axes`` (name, score 0–100) with rings at 20, 40, … 100."""
    cx = cy = size / 2
    radius = size / 2 - 48
    n = max(len(axes), 3)

    def point(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        return cx + radius * value / 100 * math.cos(angle), cy + radius * value / 100 * math.sin(angle)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img">']
    for ring in (20, 40, 60, 80, 100):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{pts}" fill="none" stroke="#ccc" stroke-width="1"/>')
    for i, (name, value) in enumerate(axes):
        x, y = point(i, 100)
        parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#ccc"/>')
        lx, ly = point(i, 118)
        label = f"{name} {value:.1f}" if value is not None else f"{name} 无数据"
        parts.append(_t(lx, ly + 4, label, size=13))
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v or 0.0) for i, (_, v) in enumerate(axes)))
    parts.append(f'<polygon points="{pts}" fill="{PALETTE[0]}" fill-opacity="0.25" stroke="{PALETTE[0]}" '
                 'stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def bars(items: list[tuple[str, float | None]], *, width: int = 640, bar_height: int = 22) -> str:
    """Horizontal bars of ``items`` (name, score 0–100), each with its score written beside it."""
    left, right = 130, 50
    height = bar_height * len(items) + 30
    span = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for tick in (0, 20, 40, 60, 80, 100):
        x = left + span * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 22}" stroke="#eee"/>')
        parts.append(_t(x, height - 6, str(tick), size=10, fill="#777"))
    for i, (name, value) in enumerate(items):
        y = 6 + i * bar_height
        parts.append(_t(left - 8, y + bar_height / 2 + 4, name, size=12, anchor="end"))
        if value is None:
            parts.append(_t(left + 4, y + bar_height / 2 + 4, "无数据", size=11, anchor="start", fill="#999"))
            continue
        w = span * max(0.0, min(100.0, value)) / 100
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{bar_height - 8}" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(_t(left + w + 4, y + bar_height / 2 + 4, f"{value:.1f}", size=11, anchor="start"))
    parts.append("</svg>")
    return "".join(parts)


def lines(labels: list[str], series: list[tuple[str, list[float | None]]], *, width: int = 640,
          height: int = 260) -> str:
    """Lines over ``labels`` (periods), one per series (name, scores 0–100), with a legend; gaps for no data."""
    left, right, top, bottom = 40, 44, 30, 40
    span_x, span_y = width - left - right, height - top - bottom
    n = len(labels)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (span_x * i / (n - 1) if n > 1 else span_x / 2)
        return x, top + span_y * (1 - max(0.0, min(100.0, v)) / 100)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for tick in (0, 20, 40, 60, 80, 100):
        _, y = xy(0, tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(_t(left - 6, y + 4, str(tick), size=10, anchor="end", fill="#777"))
    step = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        if i % step == 0:
            x, _ = xy(i, 0)
            parts.append(_t(x, height - bottom + 16, label, size=10, fill="#555"))
    for k, (name, values) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        segment: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                if len(segment) > 1:
                    parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
                                 'stroke-width="2"/>')
                segment = []
                continue
            x, y = xy(i, v)
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        if len(segment) > 1:
            parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        lx = left + k * 90
        parts.append(f'<rect x="{lx}" y="8" width="14" height="4" fill="{colour}"/>')
        parts.append(_t(lx + 18, 14, name, size=11, anchor="start"))
    parts.append("</svg>")
    return "".join(parts)


def scorecard_charts(card: dict[str, Any]) -> dict[str, str]:
    """The three charts of a scorecard (see :func:`zhili.evaluation.reads.scorecard`)."""
    dims = card["dimension_names"]
    trend = card["trend"]
    return {
        "radar": radar([(d["name"], d["score"]) for d in card["dimensions"]]),
        "bars": bars([(s["name"], s["score"]) for s in card["sub_dimensions"]]),
        "trend": lines([t["label"] for t in trend],
                       [("综合", [t["total"] for t in trend])]
                       + [(name, [t["dimensions"].get(code) for t in trend]) for code, name in dims.items()]),
    }
