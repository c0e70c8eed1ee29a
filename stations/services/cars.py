"""A driver's cars: V2X permission, minimum charge, and which tokens charge which car.

The portal (the driver), the admin and the API (operators, drivers for their own cars) all
write through here. A change of permission or minimum takes effect at once on every site
where the car is charging: those sites are re-balanced after the commit.
"""

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.db import transaction

from stations.models import Car, ChargingSession, Driver, IdToken, SessionStatus
from stations.smart_charging.dispatch import request_rebalance

UNSET = object()


class CarError(ValueError):
    """Bad input for a car; the message says what to change."""


def _percent(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        percent = int(value)
    except (TypeError, ValueError):
        raise CarError("The minimum charge is a whole percentage from 0 to 100.") from None
    if not 0 <= percent <= 100:
        raise CarError("The minimum charge is a whole percentage from 0 to 100.")
    return percent


def _kwh(value, what: str, *, least: Decimal) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        kwh = Decimal(str(value)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        raise CarError(f"The {what} is a number of kWh.") from None
    if not kwh.is_finite() or kwh < least or kwh >= 10_000:
        raise CarError(f"The {what} is a number of kWh from {least} to 9999.9.")
    return kwh


def _checked_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise CarError("A car's name has 1 to 100 characters.")
    return name


@transaction.atomic
def create_car(
    *, driver: Driver, name: str, allow_discharge: bool = False, min_soc_percent=None, min_energy_kwh=None,
    battery_capacity_kwh=None,
) -> Car:
    car = Car(driver=driver, name=_checked_name(name), allow_discharge=bool(allow_discharge),
              min_soc_percent=_percent(min_soc_percent),
              min_energy_kwh=_kwh(min_energy_kwh, "minimum charge", least=Decimal(0)),
              battery_capacity_kwh=_kwh(battery_capacity_kwh, "battery capacity", least=Decimal(1)))
    _check_minimum(car)
    car.save()
    return car


@transaction.atomic
def update_car(
    *, car: Car, name=UNSET, allow_discharge=UNSET, min_soc_percent=UNSET, min_energy_kwh=UNSET,
    battery_capacity_kwh=UNSET,
) -> Car:
    """Change what is given; a site where the car charges now is re-balanced after the commit."""
    car = Car.objects.select_for_update().get(pk=car.pk)
    if name is not UNSET:
        car.name = _checked_name(name)
    if allow_discharge is not UNSET:
        car.allow_discharge = bool(allow_discharge)
    if min_soc_percent is not UNSET:
        car.min_soc_percent = _percent(min_soc_percent)
    if min_energy_kwh is not UNSET:
        car.min_energy_kwh = _kwh(min_energy_kwh, "minimum charge", least=Decimal(0))
    if battery_capacity_kwh is not UNSET:
        car.battery_capacity_kwh = _kwh(battery_capacity_kwh, "battery capacity", least=Decimal(1))
    _check_minimum(car)
    car.save()
    rebalance_where_charging(car)
    return car


def _check_minimum(car: Car) -> None:
    if car.min_energy_kwh is not None and car.battery_capacity_kwh is not None \
            and car.min_energy_kwh > car.battery_capacity_kwh:
        raise CarError("The minimum charge cannot be more than the battery holds.")


@transaction.atomic
def set_car_tokens(*, car: Car, chosen: Iterable[IdToken], offered: Iterable[IdToken]) -> None:
    """Of the ``offered`` tokens (the driver's cards on the form), the ``chosen`` ones charge
    this car from now on (moved from another car, if need be); the others that did leave it.
    Tokens of another driver are refused."""
    chosen_pks = {t.pk for t in chosen}
    offered_pks = {t.pk for t in offered} | chosen_pks
    tokens = list(IdToken.objects.select_for_update().filter(pk__in=offered_pks))
    if len(tokens) != len(offered_pks) or any(t.driver_id != car.driver_id for t in tokens):
        raise CarError("Choose cards of this car's driver only.")
    IdToken.objects.filter(pk__in=chosen_pks).update(car=car)
    IdToken.objects.filter(pk__in=offered_pks - chosen_pks, car=car).update(car=None)
    rebalance_where_charging(car)


def rebalance_where_charging(car: Car) -> None:
    """Sites where a session of this car's tokens is active hear about it after the commit."""
    site_pks = set(
        ChargingSession.objects.filter(id_token__car=car, status=SessionStatus.ACTIVE, station__site__isnull=False)
        .values_list("station__site_id", flat=True)
    )
    for site_pk in site_pks:
        transaction.on_commit(lambda site_pk=site_pk: request_rebalance(site_pk=site_pk, reason="car settings"))
