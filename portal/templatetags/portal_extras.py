from django import template

register = template.Library()

# What a driver reads instead of OCPP's codes.
PLAIN_WORDS = {
    "ISO14443": "RFID card", "ISO15693": "RFID card (ISO 15693)", "eMAID": "Charging contract (eMAID)",
    "KeyCode": "PIN code", "Central": "App", "Local": "Station's own", "MacAddress": "Car (Autocharge)",
    "NoAuthorization": "Free charging", "Accepted": "Active", "Blocked": "Blocked", "Expired": "Expired",
    "Invalid": "Not valid",
}


@register.filter
def plain(code) -> str:
    """An OCPP code (card type, card status) in plain words."""
    return PLAIN_WORDS.get(str(code), str(code))


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


_COMPONENTS = {"FLAT": "Session fee", "ENERGY": "Energy", "TIME": "Charging time", "PARKING_TIME": "Parking time",
               "MIN_PRICE": "Minimum price", "MAX_PRICE": "Price cap"}


@register.filter
def price_component(name: str) -> str:
    return _COMPONENTS.get(name, name)


@register.filter
def billed_volume(line: dict) -> str:
    """A CDR line's billed volume with its unit (kWh, h:mm, or nothing for fees)."""
    component, volume = line.get("component"), line.get("billed_volume")
    if component == "ENERGY":
        return f"{float(volume):.3f} kWh"
    if component in ("TIME", "PARKING_TIME"):
        minutes = round(float(volume) * 60)
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return ""
