import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils import timezone
from django.utils.safestring import mark_safe

from stations import models
from stations.commands.forms import COMMON_COMMANDS, CommandForm
from stations.commands.service import CommandError, send_command
from stations.firmware import admin as firmware_admin
from stations.streams import admin as streams_admin
from stations.services.registry import RegistrationError, register_station
from stations.selectors import site_power_shares, station_live_state
from stations.services.traffic import recent_frames
from stations.smart_charging.der import station_der_controls


class EvseInline(admin.TabularInline):
    model = models.Evse
    extra = 0
    show_change_link = True


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    filter_horizontal = ["members"]


class DisplayMessageForm(forms.Form):
    message = forms.CharField(max_length=512, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                              help_text="e.g. Charger at 11 kW until Friday")
    language = forms.CharField(max_length=8, required=False, help_text="RFC 5646, e.g. en (optional)")
    priority = forms.ChoiceField(choices=[("NormalCycle", "in the normal cycle"), ("InFront", "in front"),
                                          ("AlwaysFront", "always in front")], initial="NormalCycle")
    start_at = forms.DateTimeField(required=False, help_text="YYYY-MM-DD HH:MM (server time zone); empty: now")
    end_at = forms.DateTimeField(required=False, help_text="empty: until cleared")

    def clean(self):
        data = super().clean()
        if data.get("start_at") and data.get("end_at") and data["end_at"] <= data["start_at"]:
            self.add_error("end_at", "must be after the start")
        return data


def site_zone(site) -> str:
    """The site's IANA zone for showing its times, UTC when unset or unknown."""
    name = getattr(site, "time_zone", "") or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


@admin.register(models.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "city", "country", "time_zone", "local_time"]
    list_filter = ["organization", "country"]
    search_fields = ["name", "city", "address"]
    actions = ["put_display_message"]

    @admin.action(description="Put a message on the displays of these sites' stations (2.0.1, 2.1)")
    def put_display_message(self, request, queryset):
        """Asks for the message and its time window, then sends SetDisplayMessage to every
        2.x station of the selected sites at once; 1.6 stations are listed as skipped."""
        from django.template.response import TemplateResponse

        from stations.commands.fan_out import send_to_many

        form = DisplayMessageForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            stations = models.ChargingStation.objects.filter(site__in=queryset).order_by("station_id")
            skipped = [s.station_id for s in stations if s.ocpp_version == "1.6"]
            params = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            results = send_to_many(station_ids=[s.station_id for s in stations if s.ocpp_version != "1.6"],
                                   command="set_display_message", params=params, requested_by=request.user)
            for station_id, result in results:
                if isinstance(result, str):
                    self.message_user(request, f"{station_id}: {result}", messages.ERROR)
                else:
                    self.message_user(request, *_describe(station_id, result))
            if skipped:
                self.message_user(request, f"Skipped (OCPP 1.6 has no display messages): {', '.join(skipped)}",
                                  messages.WARNING)
            if not results and not skipped:
                self.message_user(request, "These sites have no stations.", messages.WARNING)
            return None
        return TemplateResponse(request, "admin/stations/site/display_message.html", {
            **self.admin_site.each_context(request), "title": "Put a message on the stations' displays",
            "form": form, "sites": queryset, "action": "put_display_message", "opts": self.model._meta,
        })

    @admin.display(description="local time")
    def local_time(self, site):
        zone = site_zone(site)
        return f"{timezone.localtime(timezone=ZoneInfo(zone)):%H:%M} ({zone})"

    @admin.display(description="power")
    def power_page(self, site):
        if site.pk is None:
            return "—"
        return format_html('<a href="{}">Power chart and what each session draws</a>',
                           reverse("admin:stations_site_power", args=[site.pk]))

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "local_time", "power_page"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with timezone.override(site_zone(self.get_object(request, object_id))):
            return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("<path:object_id>/power/", self.admin_site.admin_view(self.power_view),
                 name="stations_site_power"),
        ] + super().get_urls()

    def power_view(self, request, object_id):
        """The site's power chart, large, for the last hours (``?hours=``, 1 to 168), with
        what each session charging now draws and its share of the site."""
        from datetime import timedelta

        from stations.smart_charging.charts import power_chart_svg
        from stations.smart_charging.models import SiteLoadSample

        site = self.get_object(request, object_id)
        if site is None:
            raise Http404("No such site.")
        if not self.has_view_permission(request, site):
            raise PermissionDenied
        try:
            hours = min(max(int(request.GET.get("hours", 6)), 1), 168)
        except ValueError:
            hours = 6
        samples = list(SiteLoadSample.objects.filter(
            site=site, at__gte=timezone.now() - timedelta(hours=hours)).order_by("at"))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "site": site, "hours": hours,
            "title": f"{site.name}: power", "chart": mark_safe(power_chart_svg(samples, title=f"{site.name}: power")),
            "shares": site_power_shares(site), "zone": site_zone(site),
        }
        with timezone.override(site_zone(site)):
            return TemplateResponse(request, "admin/stations/site/power.html", context).render()


def readable_frames(frames: list[dict] | None) -> list[dict] | None:
    """The connection's last frames for people: a datetime (shown in the site's zone), and
    what each is: the action of a CALL, the status of an answer, the code of an error."""
    if frames is None:
        return None
    readable = []
    for frame in frames:
        kind, summary = "", ""
        try:
            message = json.loads(frame["frame"])
            kind = {2: "call", 3: "answer", 4: "error"}.get(message[0], "")
            if message[0] == 2:
                summary = message[2]
            elif message[0] == 3 and isinstance(message[2], dict):
                summary = str(message[2].get("status", "") or message[2].get("idTagInfo", {}).get("status", ""))
            elif message[0] == 4:
                summary = f"{message[2]}: {message[3]}"
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            kind = "unreadable"
        try:
            at = datetime.fromisoformat(str(frame["at"]).replace("Z", "+00:00"))
        except ValueError:
            at = frame["at"]
        readable.append({**frame, "at": at, "kind": kind, "summary": summary})
    return readable


def _describe(station_id: str, result) -> tuple[str, int]:
    text = f"{station_id}: {result.command} → {result.outcome}"
    if result.status:
        text += f" ({result.status})"
    if result.error:
        text += f": {result.error}"
    if result.latency_ms is not None:
        text += f" in {result.latency_ms} ms"
    level = messages.SUCCESS if result.outcome == "accepted" else messages.WARNING
    return text, level


def _command_action(command: str, params: dict, description: str):
    def run(modeladmin, request, queryset):
        for station in queryset:
            try:
                result = send_command(station_id=station.station_id, command=command, params=dict(params),
                                      requested_by=request.user, source="admin")
            except CommandError as error:
                modeladmin.message_user(request, f"{station.station_id}: {error}", messages.ERROR)
                continue
            modeladmin.message_user(request, *_describe(station.station_id, result))

    run.__name__ = f"command_{command}_{'_'.join(str(v) for v in params.values())}".rstrip("_")
    return admin.action(description=description)(run)


class HealthFilter(admin.SimpleListFilter):
    """Faulted (the station or a connector), offline, online: the console overview links here."""

    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("faulted", "Faulted"), ("offline", "Offline"), ("online", "Online")]

    def queryset(self, request, queryset):
        faulted = Q(status=models.ConnectorStatus.FAULTED) | Q(evses__connectors__status=models.ConnectorStatus.FAULTED)
        if self.value() == "faulted":
            return queryset.filter(pk__in=models.ChargingStation.objects.filter(faulted).values("pk"))
        if self.value() == "offline":
            return queryset.filter(is_online=False)
        if self.value() == "online":
            return queryset.filter(is_online=True)
        return queryset


@admin.register(models.ChargingStation)
class ChargingStationAdmin(admin.ModelAdmin):
    list_display = [
        "station_id", "site", "is_online", "connector_states", "active_sessions", "last_seen",
        "registration_status", "vendor", "model", "firmware_version", "ocpp_version",
    ]
    list_filter = [HealthFilter, "is_online", "registration_status", "ocpp_version", "vendor", "site"]
    search_fields = ["station_id", "serial_number", "vendor", "model"]
    readonly_fields = [
        "vendor", "model", "serial_number", "firmware_version", "iccid", "imsi", "ocpp_version", "status",
        "is_online", "connected_at", "last_seen", "last_boot_at", "boot_reason", "firmware_status",
        "firmware_status_at", "diagnostics_status", "diagnostics_status_at", "local_list_version", "created_at",
    ]
    inlines = [EvseInline, streams_admin.PeriodicEventStreamInline]
    actions = [
        "approve_registration", "reject_registration", "generate_new_password",
        _command_action("reset", {"type": "soft"}, "Reset (soft)"),
        _command_action("reset", {"type": "hard"}, "Reset (hard)"),
        _command_action("change_availability", {"operational": True}, "Make available"),
        _command_action("change_availability", {"operational": False}, "Make unavailable"),
        _command_action("trigger_message", {"message": "StatusNotification"}, "Ask for status"),
        _command_action("clear_cache", {}, "Clear authorisation cache"),
        _command_action("get_configuration", {}, "Read configuration (1.6)"),
        _command_action("get_base_report", {}, "Read device model (2.0.1)"),
        _command_action("send_local_list", {}, "Send local authorisation list"),
        _command_action("get_periodic_event_stream", {}, "Read periodic event streams (2.1)"),
        firmware_admin.request_diagnostics,
    ]
    change_form_template = "admin/stations/chargingstation/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("site").prefetch_related("evses__connectors").annotate(
            active_session_count=Count("sessions", filter=Q(sessions__status=models.SessionStatus.ACTIVE))
        )

    @admin.display(description="connectors")
    def connector_states(self, station):
        states = [f"{evse.evse_id}: {c.status}" for evse in station.evses.all() for c in evse.connectors.all()]
        return ", ".join(states) or "—"

    @admin.display(description="charging", ordering="active_session_count")
    def active_sessions(self, station):
        return station.active_session_count

    def get_urls(self):
        return [
            path("<path:object_id>/command/", self.admin_site.admin_view(self.command_view),
                 name="stations_chargingstation_command"),
            path("<path:object_id>/state.json", self.admin_site.admin_view(self.state_view),
                 name="stations_chargingstation_state"),
        ] + super().get_urls()

    def state_view(self, request, object_id):
        """The station page's live part, polled every few seconds."""
        station = self.get_object(request, object_id)
        if station is None:
            raise Http404("No such station.")  # another tenant's too: as if it did not exist
        if not self.has_view_permission(request, station):
            raise PermissionDenied
        return JsonResponse(station_live_state(station))

    def command_view(self, request, object_id):
        """A page of its own for one command (never a form nested in the change form, which
        browsers drop): typed fields, then the station's answer shown on the same page."""
        station = self.get_object(request, object_id)
        if station is None:
            raise Http404("No such station.")
        if not self.has_change_permission(request, station):
            raise PermissionDenied
        evses = sorted(station.evses.values_list("evse_id", flat=True)) or [1]
        # The tokens this user may see, as the admin's token list scopes them.
        token_admin = self.admin_site._registry.get(models.IdToken)
        tokens = list(token_admin.get_queryset(request).order_by("value").values_list("value", flat=True)[:100]
                      ) if token_admin is not None else []
        chosen = request.POST.get("command") if request.method == "POST" else request.GET.get("command")
        form = CommandForm(request.POST or None, command=chosen, evses=evses, tokens=tokens,
                           time_zone=site_zone(station.site))
        result = error = None
        if request.method == "POST":
            if form.is_valid():
                try:
                    result = send_command(station_id=station.station_id, command=form.cleaned_data["command"],
                                          params=form.parameters(), requested_by=request.user, source="admin")
                    self.message_user(request, *_describe(station.station_id, result))
                except CommandError as exc:
                    details = f" {json.dumps(exc.details)}" if exc.details else ""
                    error = f"{exc}{details}"
                    self.message_user(request, error, messages.ERROR)
            else:
                error = f"Invalid command form: {form.errors.as_text()}"
                self.message_user(request, error, messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "original": station, "station": station, "title": f"Send a command to {station}",
            "form": form, "chosen": chosen, "common_commands": COMMON_COMMANDS, "tokens": tokens,
            "result": result, "answer": json.dumps(result.response, indent=2) if result and result.response else "",
            "error": error, "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/stations/chargingstation/command.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        station = self.get_object(request, object_id)
        extra_context = extra_context or {}
        zone = site_zone(station.site if station is not None else None)
        if station is not None:
            extra_context.update(
                common_commands=COMMON_COMMANDS,
                station_zone=zone,
                may_command=self.has_change_permission(request, station),
                active_sessions=station.sessions.filter(status=models.SessionStatus.ACTIVE).select_related(
                    "evse", "connector"),
                recent_commands=station.commands.select_related("requested_by")[:10],
                recent_events=station.events.all()[:10],
                der=station_der_controls(station),
                recent_frames=readable_frames(recent_frames(station.station_id)) if station.is_online else None,
            )
        # The whole page, its form included (shown and read back), in the site's zone.
        with timezone.override(zone):
            return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Approve registration (Accepted)")
    def approve_registration(self, request, queryset):
        count = queryset.update(registration_status=models.RegistrationStatus.ACCEPTED)
        self.message_user(request, f"{count} station(s) accepted; they are told so at their next BootNotification.")

    @admin.action(description="Reject registration")
    def reject_registration(self, request, queryset):
        count = queryset.update(registration_status=models.RegistrationStatus.REJECTED)
        self.message_user(request, f"{count} station(s) rejected.")

    @admin.action(description="Generate a new password (shown once)")
    def generate_new_password(self, request, queryset):
        for station in queryset:
            try:
                registered = register_station(
                    station_id=station.station_id, generate_password=True,
                    security_profile=max(station.security_profile, 1),
                )
            except RegistrationError as error:
                self.message_user(request, f"{station.station_id}: {error}", messages.ERROR)
                continue
            self.message_user(request, f"{station.station_id}: new password {registered.password}", messages.WARNING)


class ConnectorInline(admin.TabularInline):
    model = models.Connector
    extra = 0
    readonly_fields = ["status", "error_code", "info", "vendor_error_code", "status_at"]


@admin.register(models.Evse)
class EvseAdmin(admin.ModelAdmin):
    list_display = ["station", "evse_id"]
    search_fields = ["station__station_id"]
    inlines = [ConnectorInline]


@admin.register(models.Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ["evse", "connector_id", "status", "error_code", "status_at"]
    list_filter = ["status"]
    search_fields = ["evse__station__station_id"]


@admin.register(models.ConnectorStatusChange)
class ConnectorStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["connector", "status", "error_code", "timestamp"]
    list_filter = ["status"]
    date_hierarchy = "timestamp"


class CarInline(admin.TabularInline):
    """A driver's cars on the driver's page: V2X permission and minimum charge at a glance."""

    model = models.Car
    extra = 0
    show_change_link = True
    fields = ["name", "allow_discharge", "min_soc_percent", "min_energy_kwh", "battery_capacity_kwh"]


@admin.register(models.Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "user", "cars_allowing_discharge", "created_at"]
    search_fields = ["email", "name"]
    inlines = [CarInline]

    @admin.display(description="cars allowing discharge")
    def cars_allowing_discharge(self, driver) -> str:
        cars = [car.name for car in driver.cars.all() if car.allow_discharge]
        return ", ".join(cars) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("cars")


class CarTokenInline(admin.TabularInline):
    model = models.IdToken
    fk_name = "car"
    extra = 0
    fields = ["value", "type", "status"]
    readonly_fields = fields
    can_delete = False
    verbose_name, verbose_name_plural = "token charging this car", "tokens charging this car"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Car)
class CarAdmin(admin.ModelAdmin):
    """Each car's V2X permission and minimum charge; tokens are assigned on the token's page."""

    list_display = ["name", "driver", "allow_discharge", "min_soc_percent", "min_energy_kwh", "battery_capacity_kwh"]
    list_filter = ["allow_discharge"]
    list_editable = ["allow_discharge", "min_soc_percent", "min_energy_kwh"]
    search_fields = ["name", "driver__email", "driver__name"]
    autocomplete_fields = ["driver"]
    inlines = [CarTokenInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            from stations.services.cars import rebalance_where_charging

            rebalance_where_charging(obj)


@admin.register(models.IdToken)
class IdTokenAdmin(admin.ModelAdmin):
    list_display = ["value", "type", "status", "expires_at", "driver", "car"]
    list_filter = ["type", "status"]
    search_fields = ["value", "driver__email"]
    autocomplete_fields = ["driver", "car"]


class MeterSampleInline(admin.TabularInline):
    model = models.MeterSample
    extra = 0
    can_delete = False
    fields = ["timestamp", "measurand", "phase", "context", "value"]
    readonly_fields = fields
    ordering = ["timestamp"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.ChargingSession)
class ChargingSessionAdmin(admin.ModelAdmin):
    list_display = [
        "station", "transaction_id", "evse", "id_token_value", "status", "started_at", "stopped_at", "energy_wh",
        "energy_exported_wh", "soc", "operation_mode",
    ]
    list_filter = ["status", "offline"]
    search_fields = ["station__station_id", "transaction_id", "id_token_value"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in models.ChargingSession._meta.fields]
    inlines = [MeterSampleInline]

    @admin.display(description="SoC", ordering="soc_percent")
    def soc(self, session):
        """The car's state of charge as last reported (its history is in the meter values below)."""
        return "—" if session.soc_percent is None else f"{session.soc_percent:g} %"

    def has_add_permission(self, request):
        return False


@admin.register(models.StationEvent)
class StationEventAdmin(admin.ModelAdmin):
    list_display = ["station", "kind", "timestamp", "summary"]
    list_filter = ["kind"]
    search_fields = ["station__station_id", "summary"]
    date_hierarchy = "timestamp"


@admin.register(models.DeviceModelVariable)
class DeviceModelVariableAdmin(admin.ModelAdmin):
    list_display = ["station", "component", "evse_id", "variable", "attribute_type", "value", "reported_at"]
    search_fields = ["station__station_id", "component", "variable"]


@admin.register(models.CommandLog)
class CommandLogAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "station", "command", "outcome", "status", "latency_ms", "requested_by", "source"]
    list_filter = ["outcome", "command", "source"]
    search_fields = ["station__station_id", "command"]
    date_hierarchy = "requested_at"
    readonly_fields = [f.name for f in models.CommandLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["pk", "station", "evse_id", "id_token_value", "expires_at", "status"]
    list_filter = ["status"]
    search_fields = ["station__station_id", "id_token_value"]


from stations.smart_charging import admin as smart_charging_admin  # noqa: E402,F401  (registers its models)


@admin.register(models.DisplayMessage)
class DisplayMessageAdmin(admin.ModelAdmin):
    """What is on the stations' displays as far as we know (set by us, or reported by them)."""

    list_display = ["station", "message_id", "content", "priority", "state", "start_at", "end_at", "source",
                    "updated_at"]
    list_filter = ["source", "priority", "station__site"]
    search_fields = ["station__station_id", "content"]

    def has_add_permission(self, request):
        return False  # set through the stations' command form or the site action

    def has_change_permission(self, request, obj=None):
        return False
