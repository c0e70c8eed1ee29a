"""Per-partner settlement of a month, for finance: what we owe each CPO (the CDRs its
chargers sent us for our drivers, at its cost) and what each eMSP owes us (the CDRs of its
drivers at our chargers, at our price). One row per CDR, then one total per partner,
direction and currency. Months are cut in UTC on the CDR's end, as invoices are."""

from collections.abc import Iterator
from decimal import Decimal

from billing.invoicing import Period
from billing.models import ChargeDetailRecord
from roaming.envelope import ocpi_datetime
from roaming.models import Partner, RoamingCdr

WE_OWE = "we_owe_cpo"
OWES_US = "emsp_owes_us"

COLUMNS = ["row", "partner", "party", "direction", "cdr_id", "start", "end", "currency", "energy_kwh",
           "amount_excl_vat", "amount_incl_vat", "tariff_check"]


def _we_owe(period: Period):
    return (RoamingCdr.objects.filter(end_date_time__gte=period.start, end_date_time__lt=period.end)
            .select_related("partner").order_by("partner__name", "end_date_time", "pk"))


def _owed_to_us(period: Period):
    return (ChargeDetailRecord.objects.filter(end_date_time__gte=period.start, end_date_time__lt=period.end,
                                              session__id_token__roaming__isnull=False)
            .select_related("session__id_token__roaming__partner").order_by("end_date_time", "pk"))


def rows(period: Period) -> Iterator[list]:
    totals: dict[tuple[str, str, str, str], list[Decimal]] = {}

    def add(partner: Partner, party: str, direction: str, currency: str, kwh, excl, incl):
        total = totals.setdefault((partner.name, party, direction, currency), [Decimal(0)] * 4)
        total[0] += 1
        total[1] += kwh
        total[2] += excl
        total[3] += incl or 0

    for cdr in _we_owe(period).iterator():
        party = f"{cdr.country_code}*{cdr.party_id}"
        add(cdr.partner, party, WE_OWE, cdr.currency, cdr.total_energy_kwh, cdr.total_cost_excl_vat,
            cdr.total_cost_incl_vat)
        yield ["cdr", cdr.partner.name, party, WE_OWE, cdr.ocpi_id, ocpi_datetime(cdr.start_date_time),
               ocpi_datetime(cdr.end_date_time), cdr.currency, cdr.total_energy_kwh, cdr.total_cost_excl_vat,
               cdr.total_cost_incl_vat, cdr.tariff_check]
    for cdr in _owed_to_us(period).iterator():
        token = cdr.session.id_token.roaming
        party = f"{token.country_code}*{token.party_id}"
        add(token.partner, party, OWES_US, cdr.currency, cdr.total_energy_kwh, cdr.total_cost_excl_vat,
            cdr.total_cost_incl_vat)
        yield ["cdr", token.partner.name, party, OWES_US, cdr.cdr_id, ocpi_datetime(cdr.start_date_time),
               ocpi_datetime(cdr.end_date_time), cdr.currency, cdr.total_energy_kwh, cdr.total_cost_excl_vat,
               cdr.total_cost_incl_vat, ""]
    for (name, party, direction, currency), (count, kwh, excl, incl) in sorted(totals.items()):
        yield ["total", name, party, direction, f"{count} CDRs", "", "", currency, kwh, excl, incl, ""]
