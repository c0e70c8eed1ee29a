"""Registering stations and id tokens: what operators, commands and the API call."""

from dataclasses import dataclass

from django.db import transaction

from stations import credentials
from stations.models import ChargingStation, Driver, IdToken, IdTokenStatus, IdTokenType, Site

MAX_STATION_ID_LENGTH = 48


class RegistrationError(ValueError):
    """The request cannot be registered as asked; the message says why."""


@dataclass(frozen=True)
class RegisteredStation:
    station: ChargingStation
    password: str | None  # the clear password, returned once when it was set here


def validate_station_id(station_id: str) -> None:
    if not station_id or len(station_id) > MAX_STATION_ID_LENGTH:
        raise RegistrationError(f"station id must be 1 to {MAX_STATION_ID_LENGTH} characters")
    if any(ch in station_id for ch in "/?#") or any(ord(ch) < 33 for ch in station_id):
        raise RegistrationError("station id must not contain '/', '?', '#', spaces or control characters")


@transaction.atomic
def register_station(
    *,
    station_id: str,
    password: str | None = None,
    generate_password: bool = False,
    site: Site | None = None,
    security_profile: int = 1,
) -> RegisteredStation:
    """Create a station, or update the credentials and site of an existing one."""
    validate_station_id(station_id)
    if security_profile not in (0, 1, 2, 3):
        raise RegistrationError("security profile must be 0, 1, 2 or 3")
    if password is None and generate_password:
        password = credentials.generate_password()
    if password is not None and not 16 <= len(password) <= 40 and security_profile in (1, 2):
        # OCPP 2.0.1 (A00.FR.205) and the 1.6 security whitepaper fix 16 to 40 characters.
        raise RegistrationError("station password must be 16 to 40 characters")
    station, _ = ChargingStation.objects.get_or_create(station_id=station_id)
    station.security_profile = security_profile
    if site is not None:
        station.site = site
    if password is not None:
        station.password_hash = credentials.hash_password(password)
    station.save()
    return RegisteredStation(station=station, password=password)


@transaction.atomic
def register_id_token(
    *,
    value: str,
    type: str = IdTokenType.ISO14443,
    driver_email: str | None = None,
    status: str = IdTokenStatus.ACCEPTED,
    expires_at=None,
) -> IdToken:
    if not value or len(value) > 255:
        raise RegistrationError("token value must be 1 to 255 characters")
    if type not in IdTokenType.values:
        raise RegistrationError(f"unknown token type {type!r}; one of {', '.join(IdTokenType.values)}")
    driver = None
    if driver_email:
        driver, _ = Driver.objects.get_or_create(email=driver_email.lower())
    token, _ = IdToken.objects.update_or_create(
        value=value,
        defaults={"type": type, "driver": driver, "status": status, "expires_at": expires_at},
    )
    if token.car_id is not None and (driver is None or token.car.driver_id != driver.pk):
        token.car = None  # another driver's token now: it no longer charges the old driver's car
        token.save(update_fields=["car"])
    return token
