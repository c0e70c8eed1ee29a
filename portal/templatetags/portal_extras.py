from django import template

register = template.Library()


@register.filter
def kwh(wh) -> str:
    """Wh as kWh with two decimals (as the live script writes it)."""
    return "" if wh is None else f"{wh / 1000:.2f}"


@register.filter
def kw(w) -> str:
    return "-" if w is None else f"{w / 1000:.1f}"


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
