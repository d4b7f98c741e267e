"""Charts drawn by pygal as standalone SVG, served by Hookyard itself (no script, no CDN: shown as <img>)."""

import datetime

import pygal
from pygal.style import Style

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1d2330",
    foreground_strong="#1d2330",
    foreground_subtle="#dde2ea",
    colors=("#2f5bd3", "#b42318", "#1d7a46", "#8a5a00"),
    font_family="system-ui, sans-serif",
)
OPTIONS = {
    "js": [],
    "style": STYLE,
    "height": 320,
    "width": 900,
    "show_dots": False,
    "legend_at_bottom": True,
    "truncate_label": -1,
}


def volume_chart(series: list[dict], title: str) -> bytes:
    """Events and errors per step of the window."""
    chart = pygal.Line(title=title, x_label_rotation=0, show_minor_x_labels=False, fill=False, **OPTIONS)
    chart.x_labels, chart.x_labels_major = time_labels([point["t"] for point in series])
    chart.add("events", [point["count"] for point in series])
    chart.add("errors", [point["errors"] for point in series])
    return chart.render()


def time_labels(moments: list) -> tuple[list[str], list[str]]:
    """Labels for a time axis, and the few shown: clock times within a day; past a day, each day's start.

    A week of hourly points labelled by clock time alone repeats 00:00 seven times; labelled by day, the
    axis reads as the days it covers.
    """
    if len(moments) < 2 or moments[-1] - moments[0] <= datetime.timedelta(days=1):
        labels = [moment.strftime("%H:%M") for moment in moments]
        return labels, labels[:: max(1, len(labels) // 8)]
    days, labels = [], []
    for moment in moments:
        if moment.hour == moment.minute == 0:
            days.append(moment.strftime("%a %d %b"))
            labels.append(days[-1])
        else:
            labels.append(moment.strftime("%a %d %b %H:%M"))
    return labels, days or labels[:: max(1, len(labels) // 7)]


def latency_chart(latency_ms: dict, title: str) -> bytes:
    """Receipt-to-processed latency percentiles."""
    chart = pygal.Bar(title=title, **{**OPTIONS, "legend_at_bottom": False, "show_legend": False})
    chart.x_labels = ["p50", "p95", "p99"]
    chart.add("latency (ms)", [latency_ms.get(name) for name in ("p50", "p95", "p99")])
    return chart.render()


def sparkline(values: list[int]) -> bytes:
    """A small line of a group's volume, day by day."""
    chart = pygal.Line(js=[], style=STYLE, show_dots=False, fill=True)
    chart.add("", values)
    return chart.render_sparkline(width=160, height=36)
