from django.db.models import ProtectedError
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from stations.api.permissions import NetworkPermission
from stations.api.serializers import (
    CommandLogSerializer,
    CommandRequestSerializer,
    DeviceModelVariableSerializer,
    DriverSerializer,
    EvseSerializer,
    IdTokenSerializer,
    MeterSampleSerializer,
    SessionSerializer,
    SiteSerializer,
    StationSerializer,
)
from stations.commands.service import CommandError, StationNotFound, send_command
from stations.models import ChargingSession, ChargingStation, MeterSample, RegistrationStatus
from stations.selectors import (
    can_manage_station,
    command_logs_visible_to,
    drivers_visible_to,
    evses_visible_to,
    id_tokens_visible_to,
    is_operator,
    sessions_visible_to,
    sites_visible_to,
    stations_visible_to,
)

# How a command's outcome maps to HTTP: the station's own answer is a 200 (accepted or
# rejected); a CALLERROR from the station is a 502; ARCHITECTURE.md fixes 409 and 504.
COMMAND_HTTP_STATUS = {
    "accepted": status.HTTP_200_OK,
    "rejected": status.HTTP_200_OK,
    "error": status.HTTP_502_BAD_GATEWAY,
    "offline": status.HTTP_409_CONFLICT,
    "timeout": status.HTTP_504_GATEWAY_TIMEOUT,
}

CommandAnswer = inline_serializer(
    "CommandAnswer",
    {
        "id": serializers.IntegerField(),
        "command": serializers.CharField(),
        "outcome": serializers.ChoiceField(choices=list(COMMAND_HTTP_STATUS)),
        "status": serializers.CharField(allow_null=True),
        "response": serializers.DictField(allow_null=True),
        "error": serializers.CharField(),
        "latency_ms": serializers.IntegerField(allow_null=True),
    },
)


class SiteViewSet(viewsets.ModelViewSet):
    serializer_class = SiteSerializer
    permission_classes = [NetworkPermission]
    filterset_fields = ["country", "city"]

    def get_queryset(self):
        return sites_visible_to(self.request.user).order_by("name")

    def perform_create(self, serializer):
        if not is_operator(self.request.user):
            raise PermissionDenied("Only operators create sites.")
        serializer.save()

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise ValidationError({"detail": "the site still has stations; move or delete them first"})


class StationFilter(filters.FilterSet):
    online = filters.BooleanFilter(field_name="is_online")
    site = filters.NumberFilter(field_name="site_id")

    class Meta:
        model = ChargingStation
        fields = ["online", "site", "registration_status", "ocpp_version", "vendor", "model"]


class StationViewSet(viewsets.ModelViewSet):
    """Stations with their live state: online, last seen, identity, EVSEs and connectors."""

    serializer_class = StationSerializer
    permission_classes = [NetworkPermission]
    site_owners_may_write = True
    lookup_field = "station_id"
    lookup_value_regex = "[^/]+"
    filterset_class = StationFilter
    ordering_fields = ["station_id", "last_seen"]

    def get_queryset(self):
        return stations_visible_to(self.request.user)

    def perform_create(self, serializer):
        if not is_operator(self.request.user) and serializer.validated_data.get("site") is None:
            raise ValidationError({"site": ["site owners register stations on one of their sites"]})
        serializer.save()

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise ValidationError({"detail": "the station has charging sessions; it cannot be deleted"})

    @extend_schema(request=None)  # answers with the viewset's station representation
    @action(detail=True, methods=["post"])
    def approve(self, request, station_id=None):
        """Accept a station that auto-registration holds as Pending (told at its next boot)."""
        return self._set_registration(RegistrationStatus.ACCEPTED)

    @extend_schema(request=None)  # answers with the viewset's station representation
    @action(detail=True, methods=["post"])
    def reject(self, request, station_id=None):
        return self._set_registration(RegistrationStatus.REJECTED)

    def _set_registration(self, registration_status):
        station = self.get_object()
        station.registration_status = registration_status
        station.save(update_fields=["registration_status"])
        return Response(self.get_serializer(station).data)

    @extend_schema(
        request=CommandRequestSerializer,
        responses={
            200: CommandAnswer,
            400: OpenApiResponse(description="unknown command or invalid parameters"),
            409: OpenApiResponse(CommandAnswer, description="station offline"),
            502: OpenApiResponse(CommandAnswer, description="the station answered with a CALLERROR"),
            504: OpenApiResponse(CommandAnswer, description="no answer in time"),
        },
        description=(
            'Send a version-neutral command, e.g. {"command": "start_session", "evse_id": 1, "id_token": "ABC"}, '
            "and get the station's answer."
        ),
    )
    @action(detail=True, methods=["post", "get"], url_path="commands")
    def commands(self, request, station_id=None):
        station = self.get_object()
        if request.method == "GET":
            logs = command_logs_visible_to(request.user).filter(station=station)
            page = self.paginate_queryset(logs)
            return self.get_paginated_response(CommandLogSerializer(page, many=True).data)
        if not can_manage_station(request.user, station):
            raise PermissionDenied("You may not send commands to this station.")
        body = CommandRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = send_command(
                station_id=station.station_id,
                command=body.validated_data["command"],
                params=body.validated_data["params"],
                requested_by=request.user,
                source="api",
                timeout=body.validated_data.get("timeout"),
            )
        except CommandError as error:
            return Response({"detail": str(error), "errors": error.details}, status=status.HTTP_400_BAD_REQUEST)
        except StationNotFound:
            return Response({"detail": "station not found"}, status=status.HTTP_404_NOT_FOUND)
        return Response(result.as_dict(), status=COMMAND_HTTP_STATUS[result.outcome])

    @extend_schema(responses=DeviceModelVariableSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="device-model")
    def device_model(self, request, station_id=None):
        """The 2.0.1 device model (NotifyReport) or the 1.6 configuration (component OCPP16)."""
        station = self.get_object()
        page = self.paginate_queryset(station.device_model.all())
        return self.get_paginated_response(DeviceModelVariableSerializer(page, many=True).data)


class EvseViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = EvseSerializer
    filterset_fields = {"station__station_id": ["exact"], "evse_id": ["exact"]}

    def get_queryset(self):
        return evses_visible_to(self.request.user).order_by("station__station_id", "evse_id")


class DriverViewSet(viewsets.ModelViewSet):
    serializer_class = DriverSerializer
    permission_classes = [NetworkPermission]
    filterset_fields = ["email"]

    def get_queryset(self):
        return drivers_visible_to(self.request.user).order_by("email")


class IdTokenViewSet(viewsets.ModelViewSet):
    serializer_class = IdTokenSerializer
    permission_classes = [NetworkPermission]
    filterset_fields = ["type", "status", "driver"]

    def get_queryset(self):
        return id_tokens_visible_to(self.request.user).order_by("value")


class SessionFilter(filters.FilterSet):
    station = filters.CharFilter(field_name="station__station_id")
    started_after = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = ChargingSession
        fields = ["station", "status", "driver", "started_after", "started_before"]


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    """Charging sessions (1.6 and 2.0.1 transactions alike)."""

    serializer_class = SessionSerializer
    filterset_class = SessionFilter
    ordering_fields = ["started_at", "energy_wh"]

    def get_queryset(self):
        return sessions_visible_to(self.request.user)

    @extend_schema(responses=MeterSampleSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="meter-values")
    def meter_values(self, request, pk=None):
        session = self.get_object()
        samples = MeterSample.objects.filter(session=session).order_by("timestamp", "measurand", "phase")
        page = self.paginate_queryset(samples)
        return self.get_paginated_response(MeterSampleSerializer(page, many=True).data)


class CommandLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Every command sent: who asked, when, what was sent, the answer, the latency."""

    serializer_class = CommandLogSerializer
    filterset_fields = {"station__station_id": ["exact"], "command": ["exact"], "outcome": ["exact"]}

    def get_queryset(self):
        return command_logs_visible_to(self.request.user)
