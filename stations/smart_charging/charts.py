"""The site's power chart as server-side SVG: no JavaScript, no CDN, readable in any
browser and in the admin. Three step lines: the site limit, what the stations were
allowed, what the cars drew."""

from datetime import datetime
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 30
SERIES = [  # field, label, colour, dash
    ("limit_w", "site limit", "#c0392b", "6 4"),
    ("allocated_w", "allocated", "#2471a3", ""),
    ("measured_w", "measured", "#229954", ""),
]


def power_chart_svg(samples: list, *, title: str = "power") -> str:
    """``samples``: objects or dicts with ``at`` and the SERIES fields (W)."""
    get = (lambda s, k: s[k]) if samples and isinstance(samples[0], dict) else getattr
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
    times = [get(s, "at") for s in samples]
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    top_w = max(max((get(s, f) or 0) for s in samples for f, *_ in SERIES), 1)
    top_kw = _nice(top_w / 1000)

    def x(when: datetime) -> float:
        return LEFT + plot_w * (when - t0).total_seconds() / span

    def y(watts: float) -> float:
        return TOP + plot_h * (1 - (watts / 1000) / top_kw)

    for i in range(5):  # grid and kW axis
        kw = top_kw * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(kw * 1000):.1f}" y2="{y(kw * 1000):.1f}" '
                     'stroke="#eaeded"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(kw * 1000) + 4:.1f}" text-anchor="end">{kw:g} kW</text>')
    for when, anchor in ((t0, "start"), (t1, "end")):
        parts.append(f'<text x="{x(when):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
                     f'{when.strftime("%Y-%m-%d %H:%M")} UTC</text>')
    for field, _label, colour, dash in SERIES:
        points, previous = [], None
        for s in samples:
            value = get(s, field)
            if value is None:
                continue
            if previous is not None:
                points.append(f"{x(get(s, 'at')):.1f},{y(previous):.1f}")  # a step: hold, then change
            points.append(f"{x(get(s, 'at')):.1f},{y(value):.1f}")
            previous = value
        if points:
            points.append(f"{x(t1) if len(points) > 1 else WIDTH - RIGHT:.1f},{y(previous):.1f}")
            dashes = f'stroke-dasharray="{dash}" ' if dash else ""
            parts.append(f'<polyline data-series="{field}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'{dashes}points="{" ".join(points)}"/>')
    for i, (_, label, colour, dash) in enumerate(SERIES):  # legend
        lx = LEFT + 8 + i * 110
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{TOP - 12}" y2="{TOP - 12}" stroke="{colour}" '
                     f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>')
        parts.append(f'<text x="{lx + 22}" y="{TOP - 8}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(kw: float) -> float:
    """A round axis maximum at or above ``kw``."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if kw <= step:
            return float(step)
    return float(int(kw) + 1)
