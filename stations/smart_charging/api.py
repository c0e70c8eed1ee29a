"""REST API of smart charging: a site's load limit and power chart, a station's charging
profiles. Scoped like the rest of the API: operators everywhere, site owners on their
organisation's sites and stations (reads and writes), nobody else."""

from datetime import timedelta

from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from stations.commands.service import CommandError, send_command
from stations.models import (
    ChargingProfile,
    ChargingStation,
    ProfileStatus,
    SessionLoadState,
    SessionStatus,
    Site,
    SiteLoadLimit,
    SiteLoadLimitPeriod,
    SiteLoadSample,
)
from stations.selectors import can_manage_station, is_operator, organizations_of, sites_visible_to, stations_visible_to
from stations.smart_charging import charts
from stations.smart_charging.dispatch import request_fallback, request_rebalance
from stations.smart_charging.profiles import SetChargingProfileParams
from stations.smart_charging.receivers import forget_sites

COMMAND_HTTP_STATUS = {"accepted": 200, "rejected": 200, "error": 502, "offline": 409, "timeout": 504}


def _site_for(request, pk: int) -> Site:
    site = get_object_or_404(sites_visible_to(request.user), pk=pk)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not _may_manage_site(request.user, site):
        raise PermissionDenied("You may not change this site.")
    return site


def _may_manage_site(user, site: Site) -> bool:
    if is_operator(user):
        return True
    return bool(site.organization_id and organizations_of(user).filter(pk=site.organization_id).exists())


def _station_for(request, station_id: str) -> ChargingStation:
    station = get_object_or_404(stations_visible_to(request.user), station_id=station_id)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not can_manage_station(request.user, station):
        raise PermissionDenied("You may not change this station's charging profiles.")
    return station


# --- site load limit --------------------------------------------------------------------


class LimitPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = SiteLoadLimitPeriod
        fields = ["start", "max_power_w", "max_current_a"]

    def validate(self, attrs):
        if attrs.get("max_power_w") is None and attrs.get("max_current_a") is None:
            raise serializers.ValidationError("a period lowers max_power_w and/or max_current_a")
        return attrs


class SiteLoadLimitSerializer(serializers.ModelSerializer):
    periods = LimitPeriodSerializer(many=True, required=False)
    curve = serializers.ListField(
        child=serializers.ListField(min_length=2, max_length=2), required=False,
        help_text='[["2026-01-01T00:00:00Z", 0.31], ...]: price per kWh or PV power in W, a step curve',
    )

    class Meta:
        model = SiteLoadLimit
        fields = [
            "enabled", "max_power_w", "max_current_a", "voltage_v", "max_export_power_w", "periods", "optimise_for",
            "curve",
            "min_interval_s", "dead_band_w", "meter_rebalance_interval_s", "profile_validity_s", "last_rebalanced_at",
        ]
        read_only_fields = ["last_rebalanced_at"]

    def validate_curve(self, value):
        from datetime import datetime

        out = []
        for start, number in value:
            try:
                when = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
                number = float(number)
            except (TypeError, ValueError):
                raise serializers.ValidationError(f"each point is [ISO time, number], not {[start, number]!r}")
            if when.tzinfo is None:
                raise serializers.ValidationError(f"{start!r} needs a time zone")
            out.append([when.isoformat(), number])
        return sorted(out)

    def validate(self, attrs):
        merged = {**({} if self.instance is None else {
            "max_power_w": self.instance.max_power_w, "max_current_a": self.instance.max_current_a}), **attrs}
        if merged.get("max_power_w") is None and merged.get("max_current_a") is None:
            raise serializers.ValidationError("give the grid connection: max_power_w and/or max_current_a")
        starts = [p["start"] for p in attrs.get("periods", [])]
        if len(starts) != len(set(starts)):
            raise serializers.ValidationError({"periods": "two periods start at the same time"})
        if attrs.get("optimise_for") and not (attrs.get("curve") or (self.instance and self.instance.curve)):
            raise serializers.ValidationError({"curve": "optimising for price or PV needs the curve"})
        return attrs

    @transaction.atomic
    def save_for(self, site: Site) -> SiteLoadLimit:
        data = dict(self.validated_data)
        periods = data.pop("periods", None)
        config, _ = SiteLoadLimit.objects.update_or_create(site=site, defaults=data)
        if periods is not None:
            config.periods.all().delete()
            SiteLoadLimitPeriod.objects.bulk_create(SiteLoadLimitPeriod(limit=config, **p) for p in periods)
        return config


class SiteLoadLimitView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SiteLoadLimitSerializer)
    def get(self, request, pk: int):
        site = _site_for(request, pk)
        config = get_object_or_404(SiteLoadLimit, site=site)
        return Response(SiteLoadLimitSerializer(config).data)

    @extend_schema(request=SiteLoadLimitSerializer, responses=SiteLoadLimitSerializer)
    def put(self, request, pk: int):
        """Set the site's grid connection (e.g. {"max_current_a": 160} for 3x160 A, or
        {"max_power_w": 110000}), optional periods that lower it and a price/PV curve. The
        stations get the new safe default profile and the sessions are re-balanced."""
        return self._write(request, pk, partial=False)

    @extend_schema(request=SiteLoadLimitSerializer, responses=SiteLoadLimitSerializer)
    def patch(self, request, pk: int):
        return self._write(request, pk, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        """Stop managing the site's load (profiles already sent stay until they expire)."""
        site = _site_for(request, pk)
        SiteLoadLimit.objects.filter(site=site).delete()
        forget_sites()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _write(self, request, pk: int, *, partial: bool):
        site = _site_for(request, pk)
        instance = SiteLoadLimit.objects.filter(site=site).first()
        serializer = SiteLoadLimitSerializer(instance, data=request.data, partial=partial and instance is not None)
        serializer.is_valid(raise_exception=True)
        config = serializer.save_for(site)
        apply_site_limit(config)
        return Response(SiteLoadLimitSerializer(config).data)


def apply_site_limit(config: SiteLoadLimit) -> None:
    """After a change: stations get the new safe default, sessions a new share."""
    forget_sites()
    if config.enabled:
        transaction.on_commit(lambda: request_fallback(site_pk=config.site_id))
        transaction.on_commit(lambda: request_rebalance(site_pk=config.site_id, reason="limit changed"))


# --- the site's power ---------------------------------------------------------------------


HOURS = OpenApiParameter("hours", int, description="how far back (default 24, at most 168)")


def _hours(request) -> int:
    try:
        return max(1, min(168, int(request.query_params.get("hours", 24))))
    except ValueError:
        return 24


def site_power(site: Site, *, hours: int) -> dict:
    since = timezone.now() - timedelta(hours=hours)
    samples = list(SiteLoadSample.objects.filter(site=site, at__gte=since).order_by("at"))
    states = (
        SessionLoadState.objects.filter(session__station__site=site, session__status=SessionStatus.ACTIVE)
        .select_related("session__station", "session__evse")
        .order_by("session_id")
    )
    config = SiteLoadLimit.objects.filter(site=site).first()
    return {
        "site": site.pk,
        "max_export_power_w": config.max_export_power_w if config else 0,
        "samples": [
            {
                "at": s.at, "limit_w": s.limit_w, "allocated_w": s.allocated_w, "measured_w": s.measured_w,
                "discharge_w": s.discharge_w,
                # V2X: metered export and the export limit, as magnitudes; grid_w is the net
                # (positive: drawn from the grid, negative: fed into it).
                "measured_export_w": s.measured_export_w, "export_limit_w": s.export_limit_w,
                "grid_w": s.measured_w - s.measured_export_w,
                "sessions": s.sessions, "queued": s.queued, "profiles_sent": s.profiles_sent,
            }
            for s in samples
        ],
        "sessions": [
            {
                "session": state.session_id,
                "station": state.session.station.station_id,
                "evse_id": state.session.evse.evse_id if state.session.evse else None,
                "allowed_power_w": state.allowed_power_w,
                "allowed_at": state.allowed_at,
                "queued": state.queued,
                "departure_at": state.departure_at,
                "energy_request_wh": state.energy_request_wh,
                "setpoint_w": state.setpoint_w,
                "operation_mode": state.session.operation_mode,
                "soc_percent": state.session.soc_percent,
                "energy_wh": state.session.energy_wh,
                "energy_exported_wh": state.session.energy_exported_wh,
                "requested_energy_transfer": state.requested_energy_transfer,
                "can_discharge": state.can_discharge,
            }
            for state in states
        ],
    }


class SitePowerView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[HOURS], responses=OpenApiResponse(
        description="import limit, allocated and measured power; V2X: export limit, discharge setpoints, "
                    "metered export and the net grid power (grid_w, negative when feeding back)"))
    def get(self, request, pk: int):
        """The site's power over time (one point per re-balance) and each session's share now:
        what the site drew from the grid and what it fed back, with both limits."""
        site = _site_for(request, pk)
        return Response(site_power(site, hours=_hours(request)))


class SitePowerChartView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[HOURS], responses={(200, "image/svg+xml"): OpenApiResponse(description="SVG chart")})
    def get(self, request, pk: int):
        site = _site_for(request, pk)
        since = timezone.now() - timedelta(hours=_hours(request))
        samples = SiteLoadSample.objects.filter(site=site, at__gte=since).order_by("at")
        return HttpResponse(charts.power_chart_svg(list(samples), title=f"{site.name}: power"),
                            content_type="image/svg+xml")


class SiteRebalanceView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=OpenApiResponse(description="queued"))
    def post(self, request, pk: int):
        """Re-balance the site now (normally it happens by itself)."""
        site = _site_for(request, pk)
        if not SiteLoadLimit.objects.filter(site=site, enabled=True).exists():
            return Response({"detail": "the site has no load limit; PUT one first"}, status=status.HTTP_409_CONFLICT)
        request_rebalance(site_pk=site.pk, reason="api")
        return Response({"detail": "re-balance requested"}, status=status.HTTP_202_ACCEPTED)


# --- a station's charging profiles -----------------------------------------------------


class ChargingProfileSerializer(serializers.ModelSerializer):
    session = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ChargingProfile
        fields = [
            "id", "profile_id", "evse_id", "purpose", "stack_level", "kind", "recurrency_kind", "valid_from",
            "valid_to", "transaction_id", "session", "charging_rate_unit", "start_schedule", "duration_s",
            "min_charging_rate", "periods", "status", "source", "created_at", "updated_at",
        ]


class StationProfilesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("status", str, description="e.g. active (default: all)")],
        responses=ChargingProfileSerializer(many=True),
    )
    def get(self, request, station_id: str):
        """The profiles sent to the station, with what became of them, and those it reported."""
        station = _station_for(request, station_id)
        profiles = station.charging_profiles.order_by("-created_at")
        if request.query_params.get("status"):
            profiles = profiles.filter(status=request.query_params["status"])
        return Response(ChargingProfileSerializer(profiles[:500], many=True).data)

    @extend_schema(request=SetChargingProfileParams, responses=OpenApiResponse(description="the station's answer"))
    def post(self, request, station_id: str):
        """Set a charging profile (SetChargingProfile), e.g. a station maximum:
        {"purpose": "ChargingStationMaxProfile", "charging_rate_unit": "A",
        "periods": [{"start_period_s": 0, "limit": 16}]}."""
        station = _station_for(request, station_id)
        params = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        params.pop("source", None)  # operator profiles only; the load manager's come from itself
        return _run(request, station, "set_charging_profile", params)


class StationProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=OpenApiResponse(description="the station's answer"))
    def delete(self, request, station_id: str, profile_id: int):
        """Clear the profile with this OCPP id (ClearChargingProfile)."""
        station = _station_for(request, station_id)
        if not station.charging_profiles.filter(profile_id=profile_id, status=ProfileStatus.ACTIVE).exists():
            return Response({"detail": f"no active profile {profile_id} on {station_id}"},
                            status=status.HTTP_404_NOT_FOUND)
        return _run(request, station, "clear_charging_profile", {"profile_id": profile_id})


class CompositeScheduleView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("evse_id", int, description="0: the station"),
            OpenApiParameter("duration_s", int, description="default 3600"),
            OpenApiParameter("charging_rate_unit", str, description="A or W"),
        ],
        responses=OpenApiResponse(description="the station's GetCompositeSchedule answer"),
    )
    def get(self, request, station_id: str):
        """What the station will let the EVSE draw (GetCompositeSchedule), asked now."""
        station = _station_for(request, station_id)
        params = {k: request.query_params[k] for k in ("evse_id", "duration_s", "charging_rate_unit")
                  if k in request.query_params}
        return _run(request, station, "get_composite_schedule", params)


def _run(request, station: ChargingStation, command: str, params: dict) -> Response:
    if not can_manage_station(request.user, station):
        raise PermissionDenied("You may not send commands to this station.")
    try:
        result = send_command(
            station_id=station.station_id, command=command, params=params, requested_by=request.user, source="api"
        )
    except CommandError as error:
        return Response({"detail": str(error), "errors": error.details}, status=status.HTTP_400_BAD_REQUEST)
    body = result.as_dict()
    if command == "set_charging_profile":
        profile = ChargingProfile.objects.filter(command_id=result.log_id).first()
        body["profile"] = ChargingProfileSerializer(profile).data if profile else None
    return Response(body, status=COMMAND_HTTP_STATUS[result.outcome])
