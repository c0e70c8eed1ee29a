"""The site's power chart as server-side SVG: no JavaScript, no CDN, readable in any
browser and in the admin. Step lines above zero for what the site draws from the grid (the
import limit, what the stations were allowed, what the cars drew) and, with V2X, below zero
for what it feeds back (the export limit, the discharge setpoints, the metered export)."""

import math
from datetime import datetime
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 44, 30
SERIES = [  # field, label, colour, dash, sign (-1: drawn below zero, as export)
    ("limit_w", "import limit", "#c0392b", "6 4", 1),
    ("allocated_w", "allocated", "#2471a3", "", 1),
    ("measured_w", "drawn", "#229954", "", 1),
    ("export_limit_w", "export limit", "#d35400", "2 3", -1),
    ("discharge_w", "discharge set", "#8e44ad", "6 4", -1),
    ("measured_export_w", "fed back", "#7d3c98", "", -1),
]
EXPORT_FIELDS = {field for field, *_rest, sign in SERIES if sign < 0}


def power_chart_svg(samples: list, *, title: str = "power") -> str:
    """``samples``: objects or dicts with ``at`` and the SERIES fields (W, all magnitudes).
    The export series are drawn only when the site may export or something was fed back."""
    get = (lambda s, k: s.get(k)) if samples and isinstance(samples[0], dict) else getattr
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfcfc" stroke="#d5d8dc"/>',
    ]
    if not samples:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#7f8c8d">'
                     "no data yet: the chart fills as sessions charge</text></svg>")
        return "".join(parts)
    with_export = any((get(s, f) or 0) > 0 for s in samples for f in EXPORT_FIELDS)
    series = [item for item in SERIES if with_export or item[4] > 0]
    times = [get(s, "at") for s in samples]
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    top_w = max(max((get(s, f) or 0) for s in samples for f, *_rest, sign in series if sign > 0), 1)
    bottom_w = max(((get(s, f) or 0) for s in samples for f, *_rest, sign in series if sign < 0), default=0)
    if not bottom_w:  # import only: a round maximum in four steps
        top_kw, bottom_kw = _nice(top_w / 1000, _MAXIMA), 0.0
        step_kw = top_kw / 4
    else:  # both ways: round steps on either side of zero
        step_kw = _nice((top_w + bottom_w) / 1000 / 4, _STEPS)
        top_kw = step_kw * max(1, math.ceil(top_w / 1000 / step_kw - 1e-9))
        bottom_kw = step_kw * math.ceil(bottom_w / 1000 / step_kw - 1e-9)

    def x(when: datetime) -> float:
        return LEFT + plot_w * (when - t0).total_seconds() / span

    def y(watts: float) -> float:
        return TOP + plot_h * (top_kw - watts / 1000) / (top_kw + bottom_kw)

    ticks = round((top_kw + bottom_kw) / step_kw)
    for i in range(ticks + 1):  # grid and kW axis; the zero line darker
        kw = top_kw - i * step_kw
        stroke = "#abb2b9" if abs(kw) < 1e-9 else "#eaeded"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(kw * 1000):.1f}" y2="{y(kw * 1000):.1f}" '
                     f'stroke="{stroke}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(kw * 1000) + 4:.1f}" text-anchor="end">{kw:g} kW</text>')
    for when, anchor in ((t0, "start"), (t1, "end")):
        parts.append(f'<text x="{x(when):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
                     f'{when.strftime("%Y-%m-%d %H:%M")} UTC</text>')
    for field, _label, colour, dash, sign in series:
        points, previous = [], None
        for s in samples:
            value = get(s, field)
            if value is None:
                continue
            value = sign * value
            if previous is not None:
                points.append(f"{x(get(s, 'at')):.1f},{y(previous):.1f}")  # a step: hold, then change
            points.append(f"{x(get(s, 'at')):.1f},{y(value):.1f}")
            previous = value
        if points:
            points.append(f"{x(t1) if len(points) > 1 else WIDTH - RIGHT:.1f},{y(previous):.1f}")
            dashes = f'stroke-dasharray="{dash}" ' if dash else ""
            parts.append(f'<polyline data-series="{field}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'{dashes}points="{" ".join(points)}"><title>{_label}</title></polyline>')
    for i, (_, label, colour, dash, _sign) in enumerate(series):  # legend, two rows of three
        lx, ly = LEFT + 8 + (i % 3) * 150, TOP - 26 + (i // 3) * 14
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                     f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>')
        parts.append(f'<text x="{lx + 22}" y="{ly + 4}" data-legend="{_}">{label}</text>')
    if with_export:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{TOP - 8}" text-anchor="end" fill="#7f8c8d">'
                     "above 0: drawn by the cars; below 0: fed back</text>")
    parts.append("</svg>")
    return "".join(parts)


_MAXIMA = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)
_STEPS = (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 12.5, 20, 25, 50, 100, 200, 250, 500, 1000, 2000)


def _nice(kw: float, candidates) -> float:
    """The first round number of ``candidates`` at or above ``kw``."""
    for value in candidates:
        if kw <= value:
            return float(value)
    return float(int(kw) + 1)
