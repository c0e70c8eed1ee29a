"""ChargeNet as eMSP: CDRs partner CPOs send us for our drivers' sessions at their chargers.

On arrival a CDR is stored (what we owe the CPO), checked against the tariff the partner
published (a mismatch is flagged, not refused: the CDR is the CPO's statement; finance sees
the flag in the settlement report and the admin), and resold to our driver: a billing CDR at
our roaming price: the partner's cost excl. VAT plus OCPI_ROAMING_MARGIN_PERCENT with our VAT
(OCPI_ROAMING_VAT_PERCENT) on top, or, when OCPI_ROAMING_TARIFF_ID names one of our tariffs,
that tariff applied to the CDR's energy and time. That billing CDR is invoiced by the monthly run like
a home session (gapless numbers, once per CDR).
"""

import logging
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction

from billing.cdrs import record_resold_cdr
from billing.models import Tariff
from billing.pricing import PricingError, Reading, SessionTimeline, price_session
from billing.tariffs import tariff_to_ocpi
from roaming.envelope import INVALID_PARAMETERS, UNKNOWN_TOKEN, OcpiError
from roaming.models import Partner, RoamingCdr, RoamingLocation, TariffCheck
from roaming.partner_data import as_object, check_party, decimal, moment, our_token, require, tariff_for, tariff_ids_at

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
TOLERANCE = Decimal("0.01")


def _check(data: dict) -> dict:
    require(data, "country_code", "party_id", "id", "start_date_time", "end_date_time", "cdr_token",
              "auth_method", "cdr_location", "currency", "charging_periods", "total_cost", "total_energy",
              "total_time", "last_updated")
    if len(str(data["id"])) > 39:
        raise OcpiError("a CDR id holds at most 39 characters", status_code=INVALID_PARAMETERS)
    if not isinstance(data["total_cost"], dict) or "excl_vat" not in data["total_cost"]:
        raise OcpiError("total_cost must be a Price with excl_vat", status_code=INVALID_PARAMETERS)
    if not isinstance(data["cdr_location"], dict):
        raise OcpiError("cdr_location must be an object", status_code=INVALID_PARAMETERS)
    if not isinstance(data["charging_periods"], list):
        raise OcpiError("charging_periods must be a list", status_code=INVALID_PARAMETERS)
    return data


def receive_cdr(*, partner: Partner, body) -> RoamingCdr:
    """POST /cdrs: store the CDR once (a repeated POST of the same id returns the first)."""
    data = _check(as_object(body, "CDR"))
    cc, party = str(data["country_code"]), str(data["party_id"])
    check_party(partner, cc, party)
    token = our_token(data["cdr_token"])
    if token is None:
        raise OcpiError(f"token {data['cdr_token'].get('uid')} is not one of ours", status_code=UNKNOWN_TOKEN,
                        http_status=404)
    total = data["total_cost"]
    with transaction.atomic():
        existing = RoamingCdr.objects.filter(partner=partner, country_code=cc, party_id=party,
                                             ocpi_id=str(data["id"])).first()
        if existing is not None:
            return existing
        cdr = RoamingCdr(
            partner=partner, country_code=cc, party_id=party, ocpi_id=str(data["id"]), data=data,
            last_updated=moment(data["last_updated"], "last_updated"), id_token=token, driver=token.driver,
            session_ocpi_id=str(data.get("session_id") or "")[:36],
            start_date_time=moment(data["start_date_time"], "start_date_time"),
            end_date_time=moment(data["end_date_time"], "end_date_time"),
            currency=str(data["currency"])[:3], total_energy_kwh=decimal(data["total_energy"], "total_energy"),
            total_cost_excl_vat=decimal(total["excl_vat"], "total_cost.excl_vat").quantize(CENT),
            total_cost_incl_vat=decimal(total["incl_vat"], "total_cost.incl_vat").quantize(CENT)
            if total.get("incl_vat") is not None else None,
        )
        cdr.tariff_check, cdr.expected_cost_excl_vat = check_against_tariff(partner, data)
        if cdr.tariff_check == TariffCheck.MISMATCH:
            log.warning("CDR %s of %s: %s charged, its published tariff gives %s", cdr.ocpi_id, partner,
                        cdr.total_cost_excl_vat, cdr.expected_cost_excl_vat)
        cdr.save()
        if cdr.driver_id is not None:
            cdr.billed_cdr = _resell(cdr)
            cdr.save(update_fields=["billed_cdr"])
    return cdr


def _published_tariff(partner: Partner, data: dict) -> tuple[dict | None, str]:
    """The tariff the CPO published for this charge (one the CDR names, else the connector's),
    and the time zone of the location (its restrictions are local times)."""
    cc, party = str(data["country_code"]), str(data["party_id"])
    ids = [t.get("id") for t in data.get("tariffs") or [] if isinstance(t, dict)]
    location = RoamingLocation.objects.filter(partner=partner, country_code=cc, party_id=party,
                                              ocpi_id=str(data["cdr_location"].get("id", ""))).first()
    time_zone = "UTC"
    if location is not None:
        ids += tariff_ids_at(location, data["cdr_location"].get("evse_uid"))
        time_zone = str(location.data.get("time_zone") or "UTC")
    for tariff_id in ids:
        tariff = tariff_for(partner, cc, party, str(tariff_id))
        if tariff is not None:
            return tariff.data, time_zone
    return None, time_zone


def check_against_tariff(partner: Partner, data: dict) -> tuple[str, Decimal | None]:
    """(match/mismatch/unknown, the cost excl. VAT the published tariff gives for this CDR's
    energy and time)."""
    tariff, time_zone = _published_tariff(partner, data)
    if tariff is None:
        return TariffCheck.UNKNOWN, None
    start, end = moment(data["start_date_time"], "start"), moment(data["end_date_time"], "end")
    energy_wh = decimal(data["total_energy"], "total_energy") * 1000
    timeline = SessionTimeline(start=start, end=end, readings=[Reading(start, 0), Reading(end, energy_wh)])
    try:
        expected = price_session(tariff=tariff, timeline=timeline, time_zone=time_zone).total_excl_vat
    except PricingError as error:
        log.warning("CDR %s of %s: its tariff cannot price it: %s", data.get("id"), partner, error)
        return TariffCheck.UNKNOWN, None
    charged = decimal(data["total_cost"]["excl_vat"], "total_cost.excl_vat")
    return (TariffCheck.MATCH if abs(charged - expected) <= TOLERANCE else TariffCheck.MISMATCH), expected


def roaming_price_excl_vat(cost_excl_vat: Decimal) -> Decimal:
    """What our driver pays excl. VAT: the partner's cost plus our margin."""
    margin = Decimal(str(settings.OCPI_ROAMING_MARGIN_PERCENT))
    return (cost_excl_vat * (100 + margin) / 100).quantize(CENT, ROUND_HALF_UP)


def roaming_tariff() -> dict | None:
    """Our own roaming tariff (OCPI_ROAMING_TARIFF_ID), when one is set and exists."""
    if not settings.OCPI_ROAMING_TARIFF_ID:
        return None
    tariff = Tariff.objects.filter(tariff_id__iexact=settings.OCPI_ROAMING_TARIFF_ID).first()
    if tariff is None:
        log.error("OCPI_ROAMING_TARIFF_ID %s names no tariff: roaming CDRs are priced with the margin",
                  settings.OCPI_ROAMING_TARIFF_ID)
        return None
    return tariff_to_ocpi(tariff)


def _our_price(cdr: RoamingCdr, time_zone: str) -> tuple[dict, dict, dict]:
    """(VAT lines {rate: (base, vat)}, the tariff, how it was priced) for our driver."""
    tariff = roaming_tariff()
    if tariff is not None:
        energy_wh = cdr.total_energy_kwh * 1000
        timeline = SessionTimeline(start=cdr.start_date_time, end=cdr.end_date_time,
                                   readings=[Reading(cdr.start_date_time, 0), Reading(cdr.end_date_time, energy_wh)])
        try:
            priced = price_session(tariff=tariff, timeline=timeline, time_zone=time_zone)
            if priced.currency == cdr.currency:
                return dict(priced.vat_summary), tariff, {"roaming_tariff": tariff.get("id")}
            log.error("roaming tariff in %s, CDR %s in %s: priced with the margin", priced.currency, cdr.ocpi_id,
                      cdr.currency)
        except PricingError as error:
            log.error("roaming tariff cannot price CDR %s (%s): priced with the margin", cdr.ocpi_id, error)
    rate = settings.OCPI_ROAMING_VAT_PERCENT
    rate = None if rate in (None, "") else Decimal(str(rate))
    base = roaming_price_excl_vat(cdr.total_cost_excl_vat)
    vat = (base * rate / 100).quantize(CENT, ROUND_HALF_UP) if rate is not None else Decimal("0.00")
    return ({rate: (base, vat)}, (cdr.data.get("tariffs") or [{}])[0],
            {"margin_percent": str(settings.OCPI_ROAMING_MARGIN_PERCENT)})


def _resell(cdr: RoamingCdr):
    location = cdr.data["cdr_location"]
    stored = RoamingLocation.objects.filter(partner=cdr.partner, country_code=cdr.country_code,
                                            party_id=cdr.party_id, ocpi_id=str(location.get("id", ""))).first()
    time_zone = str((stored.data.get("time_zone") if stored else None) or "UTC")
    vat_lines, tariff, how = _our_price(cdr, time_zone)
    return record_resold_cdr(
        cdr_id=f"R{cdr.pk:08d}",
        driver_id=cdr.driver_id, station_id_text=str(location.get("evse_id") or location.get("id") or ""),
        site_name=f"{cdr.partner.name}: {location.get('name') or location.get('address') or ''}".strip(": "),
        id_token_value=cdr.id_token.value if cdr.id_token else "", start=cdr.start_date_time,
        end=cdr.end_date_time, time_zone=time_zone, currency=cdr.currency,
        energy_kwh=cdr.total_energy_kwh, time_h=decimal(cdr.data["total_time"], "total_time"),
        vat_lines=vat_lines, tariff=tariff,
        breakdown={"roaming": {"partner": cdr.partner.name, "partner_cdr_id": cdr.ocpi_id,
                               "partner_cost_excl_vat": str(cdr.total_cost_excl_vat),
                               "tariff_check": cdr.tariff_check, **how}},
    )
