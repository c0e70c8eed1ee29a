"""REST API for firmware: the catalog, campaigns (progress, pause/resume/cancel) and diagnostics.

Reads are scoped by ``stations.firmware.selectors``; every write is for operators only.
"""

from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from stations.commands.service import CommandError
from stations.firmware import catalog, diagnostics, rollout, selectors
from stations.firmware.models import (
    CampaignStation,
    DiagnosticsKind,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareImage,
)
from stations.selectors import is_operator, stations_visible_to


class OperatorsWrite(BasePermission):
    message = "Only operators may change firmware, campaigns or request diagnostics."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or is_operator(user)


# --- catalog -------------------------------------------------------------------------------


class FirmwareSerializer(serializers.ModelSerializer):
    file = serializers.FileField(write_only=True)
    station_models = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    signing_certificate = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class Meta:
        model = FirmwareImage
        fields = ["id", "version", "vendor", "station_models", "sha256", "size_bytes", "is_signed",
                  "signing_certificate", "signature", "notes", "created_at", "file"]
        read_only_fields = ["sha256", "size_bytes", "created_at"]
        # Uniqueness is the service's to check (one clear message, the file not kept).
        validators = []

    def create(self, validated_data):
        try:
            return catalog.add_firmware(uploaded_by=self.context["request"].user, **validated_data)
        except catalog.FirmwareError as error:
            raise ValidationError({"detail": str(error)})


class FirmwareViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = FirmwareSerializer
    permission_classes = [OperatorsWrite]
    filterset_fields = ["vendor", "version"]

    def get_queryset(self):
        return selectors.firmware_visible_to(self.request.user)


# --- campaigns -----------------------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id")

    class Meta:
        model = CampaignStation
        fields = ["station", "wave", "state", "attempts", "station_status", "version_before", "reported_version",
                  "waiting_reason", "error", "next_attempt_at", "progress_at", "finished_at"]


class CampaignSerializer(serializers.ModelSerializer):
    firmware = serializers.PrimaryKeyRelatedField(queryset=FirmwareImage.objects.all())
    firmware_version = serializers.CharField(source="firmware.version", read_only=True)
    progress = serializers.SerializerMethodField()
    # Targets (write); what was asked for is echoed back in ``target``.
    sites = serializers.ListField(child=serializers.IntegerField(), write_only=True, required=False)
    models = serializers.ListField(child=serializers.CharField(max_length=50), write_only=True, required=False)
    current_versions = serializers.ListField(child=serializers.CharField(max_length=50), write_only=True,
                                             required=False)
    stations = serializers.ListField(child=serializers.CharField(max_length=48), write_only=True, required=False)
    start = serializers.BooleanField(write_only=True, default=False)

    class Meta:
        model = FirmwareCampaign
        fields = ["id", "name", "firmware", "firmware_version", "status", "target", "sites", "models",
                  "current_versions", "stations", "start", "canary_percent", "wave_size", "window_start",
                  "window_end", "max_concurrent", "failure_threshold_percent", "max_attempts", "retry_backoff_s",
                  "station_timeout_s", "current_wave", "halted_reason", "created_at", "started_at", "finished_at",
                  "progress"]
        read_only_fields = ["status", "target", "current_wave", "halted_reason", "created_at", "started_at",
                            "finished_at"]

    def get_progress(self, campaign) -> dict:
        return rollout.progress(campaign)

    def create(self, validated_data):
        try:
            return rollout.create_campaign(created_by=self.context["request"].user, **validated_data)
        except rollout.CampaignError as error:
            raise ValidationError({"detail": str(error)})


class CampaignDetailSerializer(CampaignSerializer):
    members = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "members"]

    def get_members(self, campaign) -> list[dict]:
        members = selectors.campaign_members_visible_to(self.context["request"].user, campaign)
        return MemberSerializer(members, many=True).data


class CampaignViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [OperatorsWrite]
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.campaigns_visible_to(self.request.user)

    def get_serializer_class(self):
        return CampaignDetailSerializer if self.action == "retrieve" else CampaignSerializer

    def _change(self, request, pk, what):
        campaign = self.get_object()
        try:
            campaign = rollout.change_campaign(campaign_id=campaign.pk, action=what)
        except rollout.CampaignError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        if what in ("start", "resume"):
            from stations.tasks import advance_firmware_campaign

            advance_firmware_campaign.delay(campaign.pk)  # no need to wait for beat
        return Response(CampaignDetailSerializer(campaign, context={"request": request}).data)

    @extend_schema(request=None, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._change(request, pk, "start")

    @extend_schema(request=None, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._change(request, pk, "pause")

    @extend_schema(request=None, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._change(request, pk, "resume")

    @extend_schema(request=None, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._change(request, pk, "cancel")


# --- diagnostics ---------------------------------------------------------------------------


class DiagnosticsSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.station_id", max_length=48)
    log_type = serializers.ChoiceField(choices=DiagnosticsKind.choices, default=DiagnosticsKind.DIAGNOSTICS)
    has_file = serializers.SerializerMethodField()

    class Meta:
        model = DiagnosticsRequest
        fields = ["id", "station", "log_type", "request_id", "outcome", "status", "file_name", "size_bytes",
                  "has_file", "requested_at", "uploaded_at"]
        read_only_fields = ["request_id", "outcome", "status", "file_name", "size_bytes", "requested_at",
                            "uploaded_at"]

    def get_has_file(self, request) -> bool:
        return bool(request.file)


class DiagnosticsViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = DiagnosticsSerializer
    permission_classes = [OperatorsWrite]

    def get_queryset(self):
        return selectors.diagnostics_visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        station = stations_visible_to(request.user).filter(
            station_id=serializer.validated_data["station"]["station_id"]
        ).first()
        if station is None:
            raise ValidationError({"station": ["unknown station"]})
        try:
            created = diagnostics.request_diagnostics(
                station=station, log_type=serializer.validated_data["log_type"], requested_by=request.user
            )
        except CommandError as error:
            raise ValidationError({"detail": str(error)})
        code = status.HTTP_201_CREATED if created.outcome == "accepted" else status.HTTP_502_BAD_GATEWAY
        if created.outcome == "offline":
            code = status.HTTP_409_CONFLICT
        return Response(self.get_serializer(created).data, status=code)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        diagnostics_request = self.get_object()
        if not diagnostics_request.file:
            raise NotFound("the station has not uploaded a file for this request")
        return FileResponse(diagnostics_request.file.open("rb"), as_attachment=True,
                            filename=diagnostics_request.file_name or "diagnostics.log")
