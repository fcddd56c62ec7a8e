"""The /stats chart: generations and Stars revenue per day, as a PNG.

matplotlib is imported when a chart is drawn, not before: it costs tens of MB an idle process
should not carry."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from babel.dates import format_date

from core.ui.texts import text


def draw(lang: str, days: Sequence[date], generations: Sequence[int], stars: Sequence[int]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    left = figure.subplots()
    labels = [format_date(day, "d MMM", locale=lang) for day in days]
    positions = range(len(days))
    left.bar(positions, generations, color="#4c78a8")
    left.set_ylabel(text(lang, "chart_generations"), color="#4c78a8")
    left.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=8)
    right = left.twinx()
    right.plot(list(positions), stars, color="#f2a900", marker="o")
    right.set_ylabel(text(lang, "chart_stars"), color="#f2a900")
    right.set_ylim(bottom=0)
    left.set_title(text(lang, "admin_chart_caption"), fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
