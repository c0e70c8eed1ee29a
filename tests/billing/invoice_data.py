"""Small builders for the invoicing tests: drivers, stations and CDRs written straight
through the ORM (independent of how the CDR service prices sessions)."""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from billing.models import CdrVatLine, ChargeDetailRecord
from stations.models import ChargingSession, ChargingStation, Driver, SessionStatus


def make_driver(email: str, name: str = "", user=None) -> Driver:
    return Driver.objects.create(email=email, name=name, user=user)


def make_station(station_id: str = "CP-INV-1") -> ChargingStation:
    return ChargingStation.objects.get_or_create(station_id=station_id)[0]


def make_cdr(
    *,
    driver: Driver | None,
    ended_at: datetime,
    vat_lines: list[tuple[str | None, str, str]] = (("19", "10.00", "1.90"),),
    currency: str = "EUR",
    energy_kwh: str = "12.500",
    station: ChargingStation | None = None,
    site_name: str = "Acme Yard",
    time_zone: str = "Europe/Berlin",
) -> ChargeDetailRecord:
    """A CDR whose totals are the sums of its VAT lines, given as (rate or None, base, vat)."""
    station = station or make_station()
    started_at = ended_at - timedelta(hours=1)
    session = ChargingSession.objects.create(
        station=station, transaction_id=uuid.uuid4().hex[:20], driver=driver, status=SessionStatus.COMPLETED,
        started_at=started_at, stopped_at=ended_at, energy_wh=int(Decimal(energy_kwh) * 1000),
    )
    base = sum((Decimal(b) for _, b, _ in vat_lines), Decimal("0.00"))
    vat = sum((Decimal(v) for _, _, v in vat_lines), Decimal("0.00"))
    cdr = ChargeDetailRecord.objects.create(
        session=session, cdr_id=f"CDR-{uuid.uuid4().hex[:16]}", driver=driver, station_id_text=station.station_id,
        site_name=site_name, id_token_value="TOKEN", start_date_time=started_at, end_date_time=ended_at,
        time_zone=time_zone, currency=currency, total_energy_kwh=Decimal(energy_kwh), total_time_h=Decimal("1"),
        total_cost_excl_vat=base, total_vat=vat, total_cost_incl_vat=base + vat, tariff={}, breakdown={},
    )
    CdrVatLine.objects.bulk_create([
        CdrVatLine(cdr=cdr, vat_rate=None if rate is None else Decimal(rate), base=Decimal(b), vat=Decimal(v))
        for rate, b, v in vat_lines
    ])
    return cdr
