"""What a driver does in the portal: sign up, verify their address, manage tokens, start and
stop a charge. Views call these; each write path is one transaction."""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from pki.models import Vehicle
from stations.commands.service import CommandError, CommandResult, StationNotFound, send_command
from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    Driver,
    IdToken,
    IdTokenStatus,
    IdTokenType,
    SessionStatus,
)
from stations.services.cars import CarError, set_car_tokens, update_car


class PortalError(ValueError):
    """The driver asked for something that cannot be done; the message says why."""


# --- signup and verification ------------------------------------------------------------
def valid_time_zone(name: str) -> bool:
    from zoneinfo import available_timezones

    return name in available_timezones()


def sign_up(*, email: str, name: str, password: str, build_absolute_uri, time_zone: str = "UTC") -> None:
    """An inactive account and a verification mail; the account opens when the link is followed.

    A Driver already registered under this address (e.g. by an operator's ``add_token``) and
    not yet tied to a login is taken over once the address is verified.
    """
    email = email.strip().lower()
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username__iexact=email).exists() or Driver.objects.filter(
            email=email, user__isnull=False
        ).exists():
            raise PortalError("An account with this email address already exists; log in or reset your password.")
        user = User.objects.create_user(username=email, email=email, password=password, is_active=False)
        driver, _ = Driver.objects.get_or_create(email=email, defaults={"name": name})
        if name and not driver.name:
            driver.name = name
        if valid_time_zone(time_zone):
            driver.time_zone = time_zone
        driver.save()
        link = build_absolute_uri(reverse("portal:verify", args=[
            urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)]))
    # After the commit: a mail never announces an account that was rolled back.
    send_mail(
        "Confirm your ChargeNet account",
        f"Hello {name or email},\n\nconfirm your email address to open your ChargeNet account:\n{link}\n",
        None, [email],
    )


def verify_email(*, uidb64: str, token: str):
    """Activate the account the link was made for and tie it to its Driver; the user, or None
    when the link is not valid."""
    User = get_user_model()
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None
    if not default_token_generator.check_token(user, token):
        return None
    with transaction.atomic():
        driver = Driver.objects.select_for_update().filter(email=user.email.lower()).first()
        if driver is None or (driver.user_id is not None and driver.user_id != user.pk):
            return None
        driver.user = user
        driver.save(update_fields=["user"])
        user.is_active = True
        user.save(update_fields=["is_active"])
    return user


# --- tokens ---------------------------------------------------------------------------
DRIVER_TOKEN_TYPES = [IdTokenType.ISO14443, IdTokenType.ISO15693, IdTokenType.EMAID, IdTokenType.KEY_CODE]


def add_token(*, driver: Driver, value: str, type: str = IdTokenType.ISO14443) -> IdToken:
    value = value.strip().upper() if type in (IdTokenType.ISO14443, IdTokenType.ISO15693) else value.strip()
    if not value or len(value) > 36:
        raise PortalError("A card number has 1 to 36 characters.")
    if type not in DRIVER_TOKEN_TYPES:
        raise PortalError("Choose a card type from the list.")
    try:
        with transaction.atomic():
            return IdToken.objects.create(value=value, type=type, driver=driver, status=IdTokenStatus.ACCEPTED)
    except IntegrityError:
        # Whoever holds it, the answer is the same: an existing card is never disclosed or taken over.
        raise PortalError("This card is already registered. Ask support if it is yours.")


def block_token(*, driver: Driver, token_pk: int) -> IdToken:
    """Block a lost card at once (stations learn it at the next Authorize / local list)."""
    with transaction.atomic():
        token = IdToken.objects.select_for_update().filter(pk=token_pk, driver=driver).first()
        if token is None:
            raise IdToken.DoesNotExist
        token.status = IdTokenStatus.BLOCKED
        token.save(update_fields=["status"])
    return token


def unblock_token(*, driver: Driver, token_pk: int) -> IdToken:
    """A card the driver blocked (and found again) charges again. Only ``Blocked`` cards: an
    expired or invalidated card stays as the operator left it."""
    with transaction.atomic():
        token = IdToken.objects.select_for_update().filter(pk=token_pk, driver=driver).first()
        if token is None:
            raise IdToken.DoesNotExist
        if token.status != IdTokenStatus.BLOCKED:
            raise PortalError(f"Card {token.value} is not blocked.")
        token.status = IdTokenStatus.ACCEPTED
        token.save(update_fields=["status"])
    return token


# --- remote start and stop ------------------------------------------------------------
def remote_start(*, user, driver: Driver, station_id: str, evse_id: int | None, token_pk: int) -> CommandResult:
    token = IdToken.objects.filter(pk=token_pk, driver=driver).first()
    if token is None:
        raise PortalError("Choose one of your cards.")
    if token.status != IdTokenStatus.ACCEPTED:
        raise PortalError(f"Card {token.value} is {token.status.lower()}; choose another.")
    # Ids are typed from a charger's label: "demo-01" finds DEMO-01.
    station = ChargingStation.objects.filter(station_id__iexact=station_id.strip(),
                                             registration_status="Accepted").first()
    if station is None:
        raise PortalError("No station with this id; check the id printed on the charger.")
    params = {"id_token": token.value, "id_token_type": token.type}
    if evse_id:
        params["evse_id"] = evse_id
    try:
        return send_command(station_id=station.station_id, command="start_session", params=params,
                            requested_by=user, source="portal")
    except (CommandError, StationNotFound) as error:
        raise PortalError(str(error))


def remote_stop(*, user, driver: Driver, session_pk: int) -> CommandResult:
    session = ChargingSession.objects.select_related("station").filter(pk=session_pk, driver=driver).first()
    if session is None:
        raise ChargingSession.DoesNotExist
    if session.status != SessionStatus.ACTIVE:
        raise PortalError("This session has already ended.")
    try:
        return send_command(station_id=session.station.station_id, command="stop_session",
                            params={"transaction_id": session.transaction_id}, requested_by=user, source="portal")
    except (CommandError, StationNotFound) as error:
        raise PortalError(str(error))


# --- cars (V2X) --------------------------------------------------------------------------
def car_cards(driver: Driver) -> list[IdToken]:
    """The driver's cards that may be moved between cars on the Cars page: all their tokens
    but the contracts of their Plug & Charge vehicles, which stay with their vehicle's car."""
    contracts = Vehicle.objects.filter(driver=driver).exclude(emaid="").values("emaid")
    return list(IdToken.objects.filter(driver=driver).exclude(value__in=contracts).select_related("car")
                .order_by("value"))


def save_car(*, driver: Driver, car_pk: int, name: str, allow_discharge: bool, min_soc_percent,
             min_energy_kwh, battery_capacity_kwh, card_pks: list[int]) -> Car:
    """One car's settings from the Cars page, all or nothing. Another driver's car is
    ``Car.DoesNotExist``; bad values are a ``PortalError`` with the reason."""
    car = Car.objects.filter(driver=driver, pk=car_pk).first()
    if car is None:
        raise Car.DoesNotExist
    offered = car_cards(driver)
    chosen = [t for t in offered if t.pk in set(card_pks)]
    if len(chosen) != len(set(card_pks)):
        raise PortalError("Choose your own cards.")
    try:
        with transaction.atomic():
            car = update_car(car=car, name=name, allow_discharge=allow_discharge, min_soc_percent=min_soc_percent,
                             min_energy_kwh=min_energy_kwh, battery_capacity_kwh=battery_capacity_kwh)
            set_car_tokens(car=car, chosen=chosen, offered=offered)
    except CarError as error:
        raise PortalError(str(error)) from None
    return car


def update_profile(*, driver: Driver, name: str, time_zone: str, address: str | None = None) -> Driver:
    """The driver's name, the zone the portal shows their times in and, when given, the postal
    address the next invoices are made out to (issued invoices keep the one they had)."""
    if not valid_time_zone(time_zone):
        raise PortalError(f"{time_zone!r} is not a time zone; pick one from the list.")
    driver.name, driver.time_zone = name.strip(), time_zone
    fields = ["name", "time_zone"]
    if address is not None:
        driver.address = "\n".join(line.strip() for line in address.strip().splitlines() if line.strip())
        fields.append("address")
    driver.save(update_fields=fields)
    return driver
