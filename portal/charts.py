"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN, readable by
screen readers through their <title> and the table each page prints beside them."""

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 24, 28


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _axis(top: float, unit: str) -> str:
    lines = []
    for n in range(5):
        value = top * n / 4
        y = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * n / 4
        lines.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value:g}</text>')
    lines.append(f'<text x="{LEFT - 4}" y="12" text-anchor="end" class="unit">{escape(unit)}</text>')
    return "".join(lines)


def bar_chart(*, title: str, labels: Sequence[str], values: Sequence[float], unit: str, css_id: str = "") -> SafeString:
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    bars = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = LEFT + n * slot + slot * 0.15
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(label)}: {value:.1f} {escape(unit)}</title></rect>"
        )
        if len(labels) <= 16 or n % 2 == 0:
            bars.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 10}" text-anchor="middle" class="tick">'
                        f"{escape(label)}</text>")
    return _svg(title, css_id, _axis(top, unit) + "".join(bars))


def line_chart(*, title: str, points: Sequence[tuple[datetime, float | None]], unit: str,
               css_id: str = "") -> SafeString:
    known = [(at, value) for at, value in points if value is not None]
    top = _nice_max(max((value for _, value in known), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = _axis(top, unit)
    if known:
        t0, t1 = known[0][0], known[-1][0]
        span = max((t1 - t0).total_seconds(), 1)
        coords = [
            (LEFT + plot_w * (at - t0).total_seconds() / span, HEIGHT - BOTTOM - plot_h * value / top)
            for at, value in known
        ]
        body += '<polyline class="line" fill="none" points="{}"/>'.format(
            " ".join(f"{x:.1f},{y:.1f}" for x, y in coords))
        first, last = timezone.localtime(t0), timezone.localtime(t1)  # the viewer's zone (the portal's driver)
        body += (f'<text x="{LEFT}" y="{HEIGHT - 10}" class="tick">{first:%H:%M}</text>'
                 f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 10}" text-anchor="end" class="tick">{last:%H:%M}</text>')
    else:
        body += f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="tick">no meter values yet</text>'
    return _svg(title, css_id, body)


def _svg(title: str, css_id: str, body: str) -> SafeString:
    ident = f' id="{escape(css_id)}"' if css_id else ""
    return mark_safe(
        f'<svg{ident} class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"{body}</svg>"
    )
