"""Scoped reads of the eMSP side: what a driver sees of partner networks and of their own
roaming sessions, and the price they would pay there."""

from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from roaming.models import PartnerStatus, RoamingLocation, RoamingSession, RoamingTariff
from roaming.partner_cdrs import roaming_tariff
from roaming.partner_data import availability, tariff_for, tariff_ids_at


def partner_locations() -> QuerySet[RoamingLocation]:
    """Locations of registered partners open to our drivers, published by the CPO."""
    return (RoamingLocation.objects.filter(partner__status=PartnerStatus.REGISTERED, roaming_allowed=True)
            .exclude(data__publish=False).select_related("partner"))


def roaming_sessions_of(driver) -> QuerySet[RoamingSession]:
    if driver is None:
        return RoamingSession.objects.none()
    return RoamingSession.objects.filter(driver=driver).select_related("partner")


def tariffs_for(locations) -> dict:
    """The tariffs of the partners of ``locations``, keyed (partner, country, party, id): one query."""
    rows = RoamingTariff.objects.filter(partner__in={loc.partner_id for loc in locations})
    return {(t.partner_id, t.country_code, t.party_id, t.ocpi_id): t for t in rows}


def _energy_price(tariff: dict) -> Decimal | None:
    for element in tariff.get("elements") or []:
        for component in element.get("price_components") or []:
            if component.get("type") == "ENERGY":
                return Decimal(str(component["price"]))
    return None


def price_text(location: RoamingLocation, tariffs: dict | None = None) -> str:
    """Our driver's price at a partner location: our roaming tariff's energy price when we
    set one, else the partner's energy price plus our margin."""
    ours = roaming_tariff()
    if ours is not None and _energy_price(ours) is not None:
        return f"{_energy_price(ours).quantize(Decimal('0.01'))} {ours['currency']}/kWh excl. VAT"
    margin = Decimal(str(settings.OCPI_ROAMING_MARGIN_PERCENT))
    for tariff_id in tariff_ids_at(location):
        key = (location.partner_id, location.country_code, location.party_id, tariff_id)
        tariff = tariffs.get(key) if tariffs is not None else tariff_for(location.partner, *key[1:])
        if tariff is None:
            continue
        energy = _energy_price(tariff.data)
        if energy is not None:
            price = energy * (100 + margin) / 100
            return f"{price.quantize(Decimal('0.01'))} {tariff.currency}/kWh excl. VAT"
    return "price on request"


def location_summaries(locations) -> list[dict]:
    locations = list(locations)
    tariffs = tariffs_for(locations)
    return [location_summary(location, tariffs) for location in locations]


def location_summary(location: RoamingLocation, tariffs: dict | None = None) -> dict:
    return {
        "id": location.pk, "partner": location.partner.name, "name": location.name, "city": location.city,
        "address": location.data.get("address", ""), "latitude": str(location.latitude),
        "longitude": str(location.longitude), "availability": availability(location),
        "price": price_text(location, tariffs),
        "evses": [{"uid": e.get("uid"), "evse_id": e.get("evse_id"), "status": e.get("status")}
                  for e in location.data.get("evses") or [] if e.get("status") != "REMOVED"],
    }


def roaming_session_rows(driver, limit: int = 50) -> list:
    """The driver's roaming sessions with what they cost them: our billed price once the CDR
    is in, else the partner's running cost plus our margin (an estimate)."""
    from roaming.models import RoamingCdr, RoamingLocation

    sessions = list(roaming_sessions_of(driver)[:limit])
    billed = {(c.partner_id, c.session_ocpi_id): c.billed_cdr for c in RoamingCdr.objects.filter(
        driver=driver, session_ocpi_id__in=[s.ocpi_id for s in sessions]).select_related("billed_cdr")}
    names = dict(((loc.partner_id, loc.ocpi_id), loc.name) for loc in RoamingLocation.objects.filter(
        ocpi_id__in=[s.location_id for s in sessions]))
    margin = Decimal(str(settings.OCPI_ROAMING_MARGIN_PERCENT))
    for session in sessions:
        cdr = billed.get((session.partner_id, session.ocpi_id))
        session.location_name = names.get((session.partner_id, session.location_id), "")
        if cdr is not None:
            session.cost = cdr.total_cost_incl_vat
        elif session.total_cost_incl_vat is not None:
            session.cost = (session.total_cost_incl_vat * (100 + margin) / 100).quantize(Decimal("0.01"))
        else:
            session.cost = None
    return sessions
