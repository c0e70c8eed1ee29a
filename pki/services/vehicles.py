"""Vehicles registered for Plug & Charge: who a car's contract is issued for, and which of
the driver's cars (``stations.Car``) its contract charges."""

from django.db import IntegrityError, transaction

from pki.models import Vehicle
from stations.models import Car, Driver, IdToken
from stations.services.cars import CarError, create_car


class VehicleError(ValueError):
    pass


def normalize_pcid(value: str) -> str:
    """ISO 15118-2 PCIDs are 14 to 18 letters and digits; compared in upper case."""
    pcid = (value or "").strip().upper()
    if not pcid.isalnum() or not pcid.isascii() or not 14 <= len(pcid) <= 18:
        raise VehicleError("a PCID is 14 to 18 letters and digits (ISO 15118-2)")
    return pcid


def register_vehicle(*, driver: Driver, pcid: str, name: str = "", car: Car | None = None) -> Vehicle:
    """Register a car for Plug & Charge: ``car`` (one of the driver's, not yet registered), or
    a new car named after the vehicle (charging only until the driver allows discharge)."""
    pcid = normalize_pcid(pcid)
    name = (name or "").strip()[:100]
    if car is not None and car.driver_id != driver.pk:
        raise VehicleError("the car is another driver's")
    try:
        with transaction.atomic():
            if car is None:
                car = create_car(driver=driver, name=name or pcid)
            elif Vehicle.objects.filter(car=car).exists():
                raise VehicleError(f"{car.name} is registered for Plug & Charge already")
            return Vehicle.objects.create(driver=driver, pcid=pcid, name=name, car=car)
    except IntegrityError:
        raise VehicleError(f"{pcid} is registered already") from None
    except CarError as error:
        raise VehicleError(str(error)) from None


def contract_charges_car(*, vehicle: Vehicle, emaid: str | None = None) -> None:
    """The contract installed in the vehicle (``emaid``, by default the vehicle's own: its
    eMAID token) charges the vehicle's car."""
    emaid = emaid or vehicle.emaid
    if emaid:
        IdToken.objects.filter(value=emaid, driver_id=vehicle.driver_id).update(car_id=vehicle.car_id)
