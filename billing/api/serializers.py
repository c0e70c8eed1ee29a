"""Billing's API representations besides the OCPI Tariff itself (`billing.tariffs.TariffSerializer`):
tariff assignments, CDRs, and the ``tariff`` field that stations and sites carry."""

from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import CdrVatLine, ChargeDetailRecord, DriverGroup, Tariff
from billing.selectors import find_tariff, public_tariff_ids
from billing.tariffs import TariffAssignmentError, assign_tariff
from stations.models import ChargingStation, Evse, Site
from stations.selectors import evses_visible_to, sites_visible_to, stations_visible_to


class TariffIdField(serializers.SlugRelatedField):
    """A tariff named by its OCPI id (case-insensitive)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="tariff_id", queryset=Tariff.objects.all(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        tariff = find_tariff(data)
        if tariff is None:
            raise serializers.ValidationError(f"no tariff with id {data!r}")
        return tariff


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "description": "OCPI id of the tariff assigned here for everyone (driver groups' tariffs aside); "
        "null: none here, the next less specific place's or the default applies. Write null to remove it.",
    }
)
class AssignedTariffField(serializers.Field):
    """The ``tariff`` of a station or site: the public assignment at that place.

    Validates to ``{"tariff": Tariff | None}``; the place's serializer applies it with
    `billing.tariffs.assign_tariff` after saving the place."""

    def __init__(self, **kwargs):
        super().__init__(source="*", required=False, **kwargs)

    def validate_empty_values(self, data):
        if data is None:  # null removes the assignment
            return True, {"tariff": None}
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("a tariff id (string), or null to remove the tariff")
        tariff = find_tariff(data)
        if tariff is None:
            raise serializers.ValidationError(f"no tariff with id {data!r}")
        return {"tariff": tariff}

    def to_representation(self, place):
        if not hasattr(place, "_public_tariff_id"):
            place._public_tariff_id = public_tariff_ids([place]).get(place.pk)
        return place._public_tariff_id


class PlaceListSerializer(serializers.ListSerializer):
    """Lists of stations or sites: their assigned tariffs in one query, not one per row."""

    def to_representation(self, data):
        places = list(data.all() if hasattr(data, "all") else data)
        tariff_ids = public_tariff_ids(places)
        for place in places:
            place._public_tariff_id = tariff_ids.get(place.pk)
        return super().to_representation(places)


class TariffedPlaceMixin(serializers.ModelSerializer):
    """Adds the ``tariff`` field to a station or site serializer of the stations app: the
    place is saved first, then billing assigns the tariff in the same transaction."""

    tariff = AssignedTariffField()

    @transaction.atomic
    def create(self, validated):
        wanted = {"tariff": validated.pop("tariff")} if "tariff" in validated else {}
        place = super().create(validated)
        self._apply_tariff(place, wanted)
        return place

    @transaction.atomic
    def update(self, place, validated):
        wanted = {"tariff": validated.pop("tariff")} if "tariff" in validated else {}
        place = super().update(place, validated)
        self._apply_tariff(place, wanted)
        return place

    @staticmethod
    def _apply_tariff(place, wanted: dict) -> None:
        """Set the place's public tariff when the request named one (billing decides if it may)."""
        if "tariff" not in wanted:
            return
        tariff = wanted["tariff"]
        try:
            assign_tariff(tariff=tariff, place=place)
        except TariffAssignmentError as error:
            raise serializers.ValidationError({"tariff": [str(error)]})
        place._public_tariff_id = tariff.tariff_id if tariff is not None else None


class TariffAssignmentSerializer(serializers.Serializer):
    """Where a tariff applies: exactly one of site, station or EVSE; for everyone, or for the
    drivers of one group. POST sets the tariff at that place (replacing the one there)."""

    id = serializers.IntegerField(read_only=True)
    tariff = TariffIdField(help_text="OCPI id of the tariff")
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all(), required=False, allow_null=True)
    station = serializers.SlugRelatedField(
        slug_field="station_id", queryset=ChargingStation.objects.all(), required=False, allow_null=True
    )
    evse = serializers.PrimaryKeyRelatedField(
        queryset=Evse.objects.all(), required=False, allow_null=True, help_text="EVSE id as in /api/v1/evses/"
    )
    driver_group = serializers.SlugRelatedField(
        slug_field="name", queryset=DriverGroup.objects.all(), required=False, allow_null=True,
        help_text="name of a driver group; null: for everyone",
    )

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:  # only places the user manages can be named
            fields["site"].queryset = sites_visible_to(request.user)
            fields["station"].queryset = stations_visible_to(request.user)
            fields["evse"].queryset = evses_visible_to(request.user)
        return fields

    def validate(self, attrs):
        places = [attrs[name] for name in ("site", "station", "evse") if attrs.get(name) is not None]
        if len(places) != 1:
            raise serializers.ValidationError("name exactly one place: site, station or evse")
        attrs["place"] = places[0]
        return attrs


class CdrVatLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = CdrVatLine
        fields = ["vat_rate", "base", "vat"]


class CdrSerializer(serializers.ModelSerializer):
    session = serializers.PrimaryKeyRelatedField(read_only=True)
    station = serializers.CharField(source="station_id_text", read_only=True)
    id_token = serializers.CharField(source="id_token_value", read_only=True)
    driver_email = serializers.EmailField(source="driver.email", read_only=True, default=None)
    vat_lines = CdrVatLineSerializer(many=True, read_only=True)
    tariff = serializers.JSONField(read_only=True, help_text="the OCPI Tariff object as at session start")
    breakdown = serializers.JSONField(read_only=True, help_text="priced lines, VAT summary, OCPI charging periods")

    class Meta:
        model = ChargeDetailRecord
        fields = [
            "cdr_id", "session", "station", "site_name", "id_token", "driver", "driver_email", "start_date_time",
            "end_date_time", "time_zone", "currency", "total_energy_kwh", "total_time_h", "total_parking_time_h",
            "total_cost_excl_vat", "total_vat", "total_cost_incl_vat", "vat_lines", "tariff", "breakdown",
            "created_at",
        ]
        read_only_fields = fields
