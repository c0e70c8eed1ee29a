"""Tariffs: the OCPI 2.2.1 Tariff object and our model, where tariffs apply, and which one a
session gets.

A tariff is written and read as the OCPI object itself (`TariffSerializer` mirrors Tariff,
TariffElement, PriceComponent, TariffRestrictions, Price, DisplayText and EnergyMix), so what
an operator POSTs is what roaming partners get: nested objects are stored as given (numbers
stay JSON numbers), unknown fields are refused rather than silently dropped, and the pricing
engine checks the result (`billing.pricing.validate_tariff`) so that no tariff is stored that
could not be priced.

Where a tariff applies (`TariffAssignment`): the most specific place wins, EVSE over station
over site; at each place an assignment for one of the driver's groups beats the public one;
then the network's default tariff. Tariffs outside their start/end_date_time at the session's
start are skipped, and the next candidate applies. The tariff is snapshotted when the session
starts (`SessionTariff`): "a driver accepts the tariff which is valid when they start their
charging session", so later edits never reprice a running session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import DriverGroup, SessionTariff, Tariff, TariffAssignment, TariffType
from billing.pricing import DAYS_OF_WEEK, TariffError, validate_tariff
from billing.selectors import organization_of_place
from stations.models import ChargingSession, ChargingStation, Evse, Organization, Site


class TariffAssignmentError(ValueError):
    """The tariff may not apply at that place."""


# --------------------------------------------------------------------------------------------
# The OCPI 2.2.1 object


@extend_schema_field(OpenApiTypes.NUMBER)
class OcpiNumberField(serializers.Field):
    """An OCPI ``number``: a JSON number, kept as sent (0.25 stays 0.25, 1 stays 1)."""

    default_error_messages = {
        "invalid": "must be a JSON number, e.g. 0.25",
        "min_value": "must be at least {min_value}",
        "max_value": "must be at most {max_value}",
    }

    def __init__(self, *, min_value=None, max_value=None, integer=False, **kwargs):
        self.min_value, self.max_value, self.integer = min_value, max_value, integer
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        if self.integer and not isinstance(data, int):
            raise serializers.ValidationError("must be a whole number, e.g. 60")
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        if self.max_value is not None and data > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.INT)
class OcpiIntegerField(OcpiNumberField):
    def __init__(self, **kwargs):
        super().__init__(integer=True, **kwargs)


def _text(max_length: int, **kwargs) -> serializers.CharField:
    # Text is kept as sent: no trimming, so it round-trips exactly.
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kwargs)


def _optional(field_class, *args, **kwargs):
    return field_class(*args, required=False, allow_null=True, **kwargs)


class OcpiObjectSerializer(serializers.Serializer):
    """Refuses fields the OCPI object does not have: a typo ("max_kwhh") would otherwise be
    dropped without a word and the tariff would price differently from what was meant."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {key: [f"unknown field; OCPI 2.2.1 {self.ocpi_name} has: {known}"] for key in unknown}
                )
        return super().to_internal_value(data)

    @property
    def ocpi_name(self) -> str:
        return type(self).__name__.removesuffix("Serializer")


class DisplayTextSerializer(OcpiObjectSerializer):
    language = serializers.RegexField(r"^[a-zA-Z]{2}$", error_messages={"invalid": "ISO 639-1 code, e.g. en"})
    text = _text(512)


class PriceSerializer(OcpiObjectSerializer):
    excl_vat = OcpiNumberField(min_value=0)
    incl_vat = OcpiNumberField(min_value=0, required=False)


class PriceComponentSerializer(OcpiObjectSerializer):
    type = serializers.ChoiceField(choices=["ENERGY", "FLAT", "PARKING_TIME", "TIME"])
    price = OcpiNumberField(min_value=0, help_text="excl. VAT: per kWh (ENERGY), per hour (TIME, PARKING_TIME)")
    vat = _optional(OcpiNumberField, min_value=0, help_text="percent; absent or null: no VAT applies (not 0 %)")
    step_size = OcpiIntegerField(min_value=0, help_text="Wh for ENERGY, seconds for TIME and PARKING_TIME")


_TIME = {"regex": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "error_messages": {"invalid": "HH:MM, 24 h, e.g. 07:30"}}
_DATE = {"regex": r"^[12][0-9]{3}-[01][0-9]-[0-3][0-9]$", "error_messages": {"invalid": "YYYY-MM-DD"}}


class TariffRestrictionsSerializer(OcpiObjectSerializer):
    start_time = _optional(serializers.RegexField, help_text="local time of the location", **_TIME)
    end_time = _optional(serializers.RegexField, help_text="exclusive; before start_time wraps midnight", **_TIME)
    start_date = _optional(serializers.RegexField, help_text="local date, inclusive", **_DATE)
    end_date = _optional(serializers.RegexField, help_text="local date, exclusive", **_DATE)
    min_kwh = _optional(OcpiNumberField, min_value=0)
    max_kwh = _optional(OcpiNumberField, min_value=0)
    min_current = _optional(OcpiNumberField, min_value=0)
    max_current = _optional(OcpiNumberField, min_value=0)
    min_power = _optional(OcpiNumberField, min_value=0)
    max_power = _optional(OcpiNumberField, min_value=0)
    min_duration = _optional(OcpiIntegerField, min_value=0, help_text="seconds")
    max_duration = _optional(OcpiIntegerField, min_value=0, help_text="seconds")
    day_of_week = _optional(serializers.ListField, child=serializers.ChoiceField(choices=DAYS_OF_WEEK))
    reservation = _optional(serializers.ChoiceField, choices=["RESERVATION", "RESERVATION_EXPIRES"])


class TariffElementSerializer(OcpiObjectSerializer):
    price_components = PriceComponentSerializer(many=True, allow_empty=False)
    restrictions = TariffRestrictionsSerializer(required=False, allow_null=True)


class EnergySourceSerializer(OcpiObjectSerializer):
    source = serializers.ChoiceField(
        choices=["NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"]
    )
    percentage = OcpiNumberField(min_value=0, max_value=100)


class EnvironmentalImpactSerializer(OcpiObjectSerializer):
    category = serializers.ChoiceField(choices=["NUCLEAR_WASTE", "CARBON_DIOXIDE"])
    amount = OcpiNumberField(min_value=0, help_text="g/kWh")


class EnergyMixSerializer(OcpiObjectSerializer):
    is_green_energy = serializers.BooleanField()
    energy_sources = _optional(EnergySourceSerializer, many=True)
    environ_impact = _optional(EnvironmentalImpactSerializer, many=True)
    supplier_name = _optional(serializers.CharField, max_length=64, trim_whitespace=False)
    energy_product_name = _optional(serializers.CharField, max_length=64, trim_whitespace=False)


_OCPI_ID = re.compile(r"^[!-.0-~]{1,36}$")  # printable ASCII without space and "/": it goes in URLs


class TariffSerializer(OcpiObjectSerializer):
    """The OCPI 2.2.1 Tariff object. ``last_updated`` is set by the server."""

    country_code = serializers.RegexField(r"^[A-Za-z]{2}$", error_messages={"invalid": "ISO 3166-1 alpha-2, e.g. DE"})
    party_id = serializers.RegexField(r"^[A-Za-z0-9]{3}$", error_messages={"invalid": "three letters or digits"})
    id = serializers.RegexField(
        _OCPI_ID, error_messages={"invalid": "1-36 printable ASCII characters, no spaces or '/'"},
        help_text="OCPI Tariff.id, unique in the network (case-insensitive)",
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", error_messages={"invalid": "ISO 4217 code, e.g. EUR"})
    type = _optional(serializers.ChoiceField, choices=TariffType.values)
    tariff_alt_text = DisplayTextSerializer(many=True, required=False)
    tariff_alt_url = _optional(serializers.URLField, max_length=255)
    min_price = _optional(PriceSerializer)
    max_price = _optional(PriceSerializer)
    elements = TariffElementSerializer(many=True, allow_empty=False)
    energy_mix = _optional(EnergyMixSerializer)
    start_date_time = _optional(serializers.DateTimeField, default_timezone=UTC)
    end_date_time = _optional(serializers.DateTimeField, default_timezone=UTC)
    last_updated = serializers.DateTimeField(read_only=True)

    def validate_id(self, value):
        others = Tariff.objects.filter(tariff_id__iexact=value)
        if self.instance is not None:
            if value.lower() != self.instance.tariff_id.lower():
                raise serializers.ValidationError(
                    "the id of a tariff cannot change (partners know it by it); create a new tariff instead"
                )
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(f"a tariff with id {value!r} exists")
        return value

    def validate(self, attrs):
        start, end = attrs.get("start_date_time"), attrs.get("end_date_time")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end_date_time": ["must be after start_date_time"]})
        try:
            validate_tariff(_plain(attrs))
        except TariffError as error:
            raise serializers.ValidationError(_error_by_field(str(error))) from None
        return attrs

    def to_representation(self, tariff: Tariff) -> dict[str, Any]:
        return tariff_to_ocpi(tariff)

    def create(self, validated):
        organization = validated.pop("organization", None)  # from the view's save(), not the OCPI object
        return create_tariff(ocpi=validated, organization=organization)

    def update(self, tariff, validated):
        return update_tariff(tariff=tariff, ocpi=validated)


def _plain(value):
    """Validated data as plain JSON-like values (dicts, lists; datetimes as OCPI strings)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return ocpi_datetime(value)
    return value


def _error_by_field(message: str) -> dict[str, list[str]]:
    """Put the engine's message ("elements[1].price_components[0]: ...") under its field."""
    field = re.split(r"[\[. :]", message, maxsplit=1)[0]
    return {field if field in TariffSerializer._declared_fields else "non_field_errors": [message]}


def ocpi_datetime(moment: datetime | None) -> str | None:
    """OCPI DateTime: RFC 3339 in UTC with a Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tariff_to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """The OCPI 2.2.1 Tariff object of a stored tariff. Every field is present; optional ones
    that are not set are null (``tariff_alt_text``: an empty list)."""
    return {
        "country_code": tariff.country_code,
        "party_id": tariff.party_id,
        "id": tariff.tariff_id,
        "currency": tariff.currency,
        "type": tariff.type or None,
        "tariff_alt_text": tariff.tariff_alt_text or [],
        "tariff_alt_url": tariff.tariff_alt_url or None,
        "min_price": tariff.min_price,
        "max_price": tariff.max_price,
        "elements": tariff.elements,
        "energy_mix": tariff.energy_mix,
        "start_date_time": ocpi_datetime(tariff.start_date_time),
        "end_date_time": ocpi_datetime(tariff.end_date_time),
        "last_updated": ocpi_datetime(tariff.last_updated),
    }


def _model_fields(ocpi: Mapping[str, Any]) -> dict[str, Any]:
    plain = _plain({key: value for key, value in ocpi.items() if key not in ("start_date_time", "end_date_time")})
    return {
        "country_code": plain["country_code"],
        "party_id": plain["party_id"],
        "tariff_id": plain["id"],
        "currency": plain["currency"],
        "type": plain.get("type") or "",
        "tariff_alt_text": plain.get("tariff_alt_text") or [],
        "tariff_alt_url": plain.get("tariff_alt_url") or "",
        "min_price": plain.get("min_price"),
        "max_price": plain.get("max_price"),
        "elements": plain["elements"],
        "energy_mix": plain.get("energy_mix"),
        "start_date_time": ocpi.get("start_date_time"),
        "end_date_time": ocpi.get("end_date_time"),
    }


def check_ocpi_tariff(data: Any, *, instance: Tariff | None = None) -> dict[str, Any]:
    """Validate an OCPI Tariff object (structure, then what the pricing engine needs); returns
    the validated object or raises `rest_framework.exceptions.ValidationError`."""
    serializer = TariffSerializer(instance=instance, data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --------------------------------------------------------------------------------------------
# Writing tariffs and assignments


@transaction.atomic
def create_tariff(*, ocpi: Mapping[str, Any], organization: Organization | None = None) -> Tariff:
    """Store a validated OCPI Tariff (see `check_ocpi_tariff`); ``organization`` owns it
    (None: network-wide)."""
    fields = _model_fields(ocpi)
    validate_tariff(_plain(ocpi))
    return Tariff.objects.create(organization=organization, **fields)


@transaction.atomic
def update_tariff(*, tariff: Tariff, ocpi: Mapping[str, Any]) -> Tariff:
    """Replace a tariff's OCPI content. Sessions already started keep their snapshot."""
    fields = _model_fields(ocpi)
    validate_tariff(_plain(ocpi))
    for name, value in fields.items():
        setattr(tariff, name, value)
    tariff.save()
    return tariff


@transaction.atomic
def set_default_tariff(*, tariff: Tariff | None) -> None:
    """Make ``tariff`` the network's default (None: no default). It must be network-wide."""
    if tariff is not None and tariff.organization_id is not None:
        raise TariffAssignmentError(
            f"tariff {tariff.tariff_id} belongs to {tariff.organization}; only a network-wide tariff can be the default"
        )
    Tariff.objects.filter(is_default=True).exclude(pk=getattr(tariff, "pk", None)).update(is_default=False)
    if tariff is not None and not tariff.is_default:
        tariff.is_default = True
        tariff.save(update_fields=["is_default"])


def check_tariff_fits_place(tariff: Tariff, place: Site | ChargingStation | Evse) -> None:
    """An organisation's tariff applies only at that organisation's places; network-wide
    tariffs apply anywhere. Raises `TariffAssignmentError`."""
    if tariff.organization_id is None:
        return
    owner = organization_of_place(place)
    if owner is None or owner.pk != tariff.organization_id:
        raise TariffAssignmentError(
            f"tariff {tariff.tariff_id} belongs to {tariff.organization}; assign it only to that organisation's "
            "sites, stations and EVSEs, or use a network-wide tariff"
        )


def _place_kwargs(place: Site | ChargingStation | Evse) -> dict[str, Any]:
    if isinstance(place, Evse):
        return {"evse": place}
    if isinstance(place, ChargingStation):
        return {"station": place}
    if isinstance(place, Site):
        return {"site": place}
    raise TypeError(f"tariffs apply at a site, a station or an EVSE, not {type(place).__name__}")


@transaction.atomic
def assign_tariff(
    *, tariff: Tariff | None, place: Site | ChargingStation | Evse, driver_group: DriverGroup | None = None
) -> tuple[TariffAssignment | None, bool]:
    """Set the tariff at a place, for everyone or for one driver group, replacing the one there;
    with ``tariff`` None, remove it. Returns (the assignment, whether it is new)."""
    where = {**_place_kwargs(place), "driver_group": driver_group}
    if tariff is None:
        TariffAssignment.objects.filter(**where).delete()
        return None, False
    check_tariff_fits_place(tariff, place)
    assignment, created = TariffAssignment.objects.select_for_update().get_or_create(
        **where, defaults={"tariff": tariff}
    )
    if not created and assignment.tariff_id != tariff.pk:
        assignment.tariff = tariff
        assignment.save(update_fields=["tariff"])
    return assignment, created


# --------------------------------------------------------------------------------------------
# Which tariff a session gets

_PLACE_RANK = {"evse": 0, "station": 1, "site": 2}


def _valid_at(at: datetime, prefix: str = "") -> Q:
    """The tariff's validity (OCPI start_date_time inclusive, end_date_time exclusive) covers ``at``."""
    return (Q(**{f"{prefix}start_date_time__isnull": True}) | Q(**{f"{prefix}start_date_time__lte": at})) & (
        Q(**{f"{prefix}end_date_time__isnull": True}) | Q(**{f"{prefix}end_date_time__gt": at})
    )


def _best_assignment(*, station_pk: int, site_pk: int | None, evse_pk: int | None, driver_pk: int | None,
                     at: datetime) -> TariffAssignment | None:
    """The most specific assignment at the session's EVSE, station or site whose tariff is
    valid at ``at``: one query."""
    places = Q(station_id=station_pk)
    if evse_pk is not None:
        places |= Q(evse_id=evse_pk)
    if site_pk is not None:
        places |= Q(site_id=site_pk)
    audience = Q(driver_group__isnull=True)
    if driver_pk is not None:
        audience |= Q(driver_group__drivers=driver_pk)
    candidates = TariffAssignment.objects.filter(places, audience, _valid_at(at, "tariff__")).select_related("tariff")

    def specificity(assignment: TariffAssignment) -> tuple[int, int, int]:
        place = "evse" if assignment.evse_id else "station" if assignment.station_id else "site"
        # Among several of the driver's groups at one place, the oldest assignment wins.
        return _PLACE_RANK[place], 0 if assignment.driver_group_id else 1, assignment.pk

    return min(candidates, key=specificity, default=None)


def _resolve(*, station_pk: int, site_pk: int | None, evse_pk: int | None, driver_pk: int | None,
             at: datetime) -> Tariff | None:
    best = _best_assignment(station_pk=station_pk, site_pk=site_pk, evse_pk=evse_pk, driver_pk=driver_pk, at=at)
    if best is not None:
        return best.tariff
    return Tariff.objects.filter(_valid_at(at), is_default=True).first()


def group_tariff_of(session: ChargingSession) -> Tariff | None:
    """The tariff of one of the session's driver's groups, if that is what applies at the
    session's place as of its start (a more specific public assignment still wins)."""
    if session.driver_id is None:
        return None
    site = _site_of(session.station_id)
    best = _best_assignment(
        station_pk=session.station_id, site_pk=site.pk if site else None, evse_pk=session.evse_id,
        driver_pk=session.driver_id, at=session.started_at or timezone.now(),
    )
    return best.tariff if best is not None and best.driver_group_id is not None else None


def _site_of(station_pk: int) -> Site | None:
    return Site.objects.filter(stations=station_pk).only("pk", "time_zone").first()


def resolve_tariff(session: ChargingSession) -> Tariff | None:
    """The tariff that applies to a session, as of its start: EVSE over station over site, a
    driver group's over the public one at the same place, then the default; tariffs not valid
    at the session's start are skipped. None: no tariff applies."""
    site = _site_of(session.station_id)
    return _resolve(
        station_pk=session.station_id,
        site_pk=site.pk if site else None,
        evse_pk=session.evse_id,
        driver_pk=session.driver_id,
        at=session.started_at or timezone.now(),
    )


@transaction.atomic
def snapshot_session_tariff(*, session: ChargingSession) -> SessionTariff | None:
    """Record the tariff of a session that just started, as it is now, with the site's time zone.

    Runs inside the transaction of the OCPP message that opened the session: three or four
    queries. None when no tariff applies (the CDR then looks again when the session ends)."""
    site = _site_of(session.station_id)
    tariff = _resolve(
        station_pk=session.station_id,
        site_pk=site.pk if site else None,
        evse_pk=session.evse_id,
        driver_pk=session.driver_id,
        at=session.started_at or timezone.now(),
    )
    if tariff is None:
        return None
    return SessionTariff.objects.create(
        session=session,
        tariff=tariff,
        snapshot=tariff_to_ocpi(tariff),
        feed_in_price=tariff.feed_in_price,
        time_zone=site.time_zone if site is not None and site.time_zone else "UTC",
        driver_known=session.driver_id is not None,
    )
