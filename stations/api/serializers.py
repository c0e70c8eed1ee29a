from rest_framework import serializers

from stations.models import ChargingSession, ChargingStation, Connector, Evse


class ConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["connector_id", "status", "error_code", "info", "status_at", "standard", "max_power_w"]


class EvseSerializer(serializers.ModelSerializer):
    connectors = ConnectorSerializer(many=True, read_only=True)

    class Meta:
        model = Evse
        fields = ["evse_id", "connectors"]


class StationSerializer(serializers.ModelSerializer):
    online = serializers.BooleanField(source="is_online", read_only=True)
    site = serializers.CharField(source="site.name", read_only=True, default=None)
    evses = EvseSerializer(many=True, read_only=True)

    class Meta:
        model = ChargingStation
        fields = [
            "station_id", "site", "online", "last_seen", "connected_at", "registration_status",
            "security_profile", "vendor", "model", "serial_number", "firmware_version", "ocpp_version",
            "status", "last_boot_at", "firmware_status", "diagnostics_status", "evses",
        ]
        read_only_fields = fields


class SessionSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id", read_only=True)
    evse_id = serializers.IntegerField(source="evse.evse_id", read_only=True, default=None)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True, default=None)
    id_token = serializers.CharField(source="id_token_value", read_only=True)
    cost = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    class Meta:
        model = ChargingSession
        fields = [
            "id", "station", "evse_id", "connector_id", "transaction_id", "id_token", "authorization_status",
            "status", "started_at", "stopped_at", "meter_start_wh", "meter_stop_wh", "energy_wh",
            "stop_reason", "charging_state", "offline", "cost", "currency",
        ]
        read_only_fields = fields

    def get_cost(self, session) -> str | None:
        # Set once billing prices the session (CDR); None until then.
        return None

    def get_currency(self, session) -> str | None:
        return None
