from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    CommandLog,
    Connector,
    DeviceModelVariable,
    Driver,
    Evse,
    IdToken,
    Measurand,
    MeterSample,
    Phase,
    ReadingContext,
    Site,
)
from stations.selectors import sites_visible_to
from stations.services.registry import RegistrationError, register_station, validate_station_id


class SiteSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True, default=None)

    class Meta:
        model = Site
        fields = ["id", "name", "organization", "address", "postal_code", "city", "country", "time_zone",
                  "latitude", "longitude"]

    def validate_time_zone(self, value):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin")
        return value


class ConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["connector_id", "status", "error_code", "info", "status_at", "standard", "max_power_w"]
        read_only_fields = ["status", "error_code", "info", "status_at"]


class EvseSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id", read_only=True)
    connectors = ConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = Evse
        fields = ["id", "station", "evse_id", "connectors"]


class StationSerializer(serializers.ModelSerializer):
    online = serializers.BooleanField(source="is_online", read_only=True)
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all(), required=False, allow_null=True)
    site_name = serializers.CharField(source="site.name", read_only=True, default=None)
    evses = EvseSerializer(many=True, read_only=True)
    password = serializers.CharField(
        write_only=True, required=False, min_length=16, max_length=40,
        help_text="HTTP Basic password (16-40 characters). Omit on create to have one generated.",
    )

    class Meta:
        model = ChargingStation
        fields = [
            "station_id", "site", "site_name", "online", "last_seen", "connected_at", "registration_status",
            "security_profile", "vendor", "model", "serial_number", "firmware_version", "ocpp_version",
            "status", "last_boot_at", "firmware_status", "diagnostics_status", "local_list_version", "evses",
            "password",
        ]
        read_only_fields = [
            "online", "last_seen", "connected_at", "vendor", "model", "serial_number", "firmware_version",
            "ocpp_version", "status", "last_boot_at", "firmware_status", "diagnostics_status",
            "local_list_version", "evses",
        ]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["site"].queryset = sites_visible_to(request.user)
        if self.instance is not None:
            fields["station_id"].read_only = True
        return fields

    def validate_station_id(self, value):
        try:
            validate_station_id(value)
        except RegistrationError as error:
            raise serializers.ValidationError(str(error))
        if ChargingStation.objects.filter(station_id=value).exists():
            raise serializers.ValidationError("a station with this id exists")
        return value

    @transaction.atomic
    def create(self, validated):
        password = validated.pop("password", None)
        profile = validated.get("security_profile", 1)
        try:
            registered = register_station(
                station_id=validated["station_id"], password=password,
                generate_password=password is None and profile in (1, 2),
                site=validated.get("site"), security_profile=profile,
            )
        except RegistrationError as error:
            raise serializers.ValidationError({"detail": str(error)})
        station = registered.station
        if "registration_status" in validated:
            station.registration_status = validated["registration_status"]
            station.save(update_fields=["registration_status"])
        # The generated password is shown once, in this response.
        station.generated_password = registered.password if password is None else None
        return station

    @transaction.atomic
    def update(self, station, validated):
        password = validated.pop("password", None)
        if password is not None:
            register_station(station_id=station.station_id, password=password,
                             security_profile=validated.get("security_profile", station.security_profile))
            station.refresh_from_db()
        return super().update(station, validated)

    def to_representation(self, station):
        data = super().to_representation(station)
        generated = getattr(station, "generated_password", None)
        if generated:
            data["password"] = generated
        return data


class DriverSerializer(serializers.ModelSerializer):
    class Meta:
        model = Driver
        fields = ["id", "email", "name", "created_at"]


class IdTokenSerializer(serializers.ModelSerializer):
    driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all(), required=False, allow_null=True)
    driver_email = serializers.EmailField(source="driver.email", read_only=True, default=None)
    car = serializers.PrimaryKeyRelatedField(queryset=Car.objects.all(), required=False, allow_null=True,
                                             help_text="the driver's car it charges (V2X); null: none")

    class Meta:
        model = IdToken
        fields = ["id", "value", "type", "status", "expires_at", "group_id", "driver", "driver_email", "car",
                  "created_at"]

    def validate(self, data):
        driver = data["driver"] if "driver" in data else getattr(self.instance, "driver", None)
        car = data["car"] if "car" in data else getattr(self.instance, "car", None)
        if car is not None and (driver is None or car.driver_id != driver.pk):
            if "car" not in data:
                data["car"] = None  # the token changes driver: it leaves the old driver's car
            else:
                raise serializers.ValidationError({"car": "one of the token's driver's cars"})
        return data


class SessionSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id", read_only=True)
    evse_id = serializers.IntegerField(source="evse.evse_id", read_only=True, default=None)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True, default=None)
    id_token = serializers.CharField(source="id_token_value", read_only=True)
    cost = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    station_cost = serializers.SerializerMethodField()

    class Meta:
        model = ChargingSession
        fields = [
            "id", "station", "evse_id", "connector_id", "transaction_id", "id_token", "authorization_status",
            "status", "started_at", "stopped_at", "meter_start_wh", "meter_stop_wh", "energy_wh",
            "energy_exported_wh", "soc_percent", "soc_at", "operation_mode",
            "stop_reason", "charging_state", "offline", "cost", "currency", "station_cost",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True,
                                                  help_text="total incl. VAT of the session's CDR"))
    def get_cost(self, session) -> str | None:
        # Set once billing prices the session (its CDR); None until then.
        cdr = _cdr_of(session)
        return None if cdr is None else str(cdr.total_cost_incl_vat)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_currency(self, session) -> str | None:
        cdr = _cdr_of(session)
        return None if cdr is None else cdr.currency

    @extend_schema_field(serializers.DictField(allow_null=True, help_text=(
        "OCPP 2.1 stations that calculate cost: their last reported cost, the difference to "
        "ChargeNet's (station minus ChargeNet) and mismatch (more than one cent apart)")))
    def get_station_cost(self, session) -> dict | None:
        # Kept by billing on the session's tariff snapshot (a reverse relation; no import of billing).
        try:
            check = session.tariff_snapshot
        except ObjectDoesNotExist:
            return None
        if check.station_cost is None:
            return None
        return {"cost": str(check.station_cost), "difference": str(check.cost_difference),
                "mismatch": check.cost_mismatch, "at": check.station_cost_at.isoformat()}


def _cdr_of(session: ChargingSession):
    try:
        return session.cdr
    except ObjectDoesNotExist:
        return None


class MeterSampleSerializer(serializers.ModelSerializer):
    measurand = serializers.SerializerMethodField()
    phase = serializers.SerializerMethodField()
    context = serializers.SerializerMethodField()

    class Meta:
        model = MeterSample
        fields = ["timestamp", "evse_id", "measurand", "phase", "context", "value"]

    def get_measurand(self, sample) -> str:
        return Measurand(sample.measurand).label

    def get_phase(self, sample) -> str:
        return Phase(sample.phase).label

    def get_context(self, sample) -> str:
        return ReadingContext(sample.context).label


class DeviceModelVariableSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceModelVariable
        fields = ["component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance",
                  "attribute_type", "value", "mutability", "reported_at"]


class CommandRequestSerializer(serializers.Serializer):
    command = serializers.CharField(help_text="start_session, stop_session, reset, unlock_connector, ...")
    timeout = serializers.FloatField(required=False, min_value=1, max_value=120)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"detail": "send a JSON object"})
        validated = super().to_internal_value(data)
        validated["params"] = {k: v for k, v in data.items() if k not in ("command", "timeout")}
        return validated


class CommandLogSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)

    class Meta:
        model = CommandLog
        fields = ["id", "station", "command", "params", "ocpp_action", "ocpp_request", "ocpp_response", "outcome",
                  "status", "error", "requested_by", "source", "requested_at", "answered_at", "latency_ms"]
        read_only_fields = fields
