from django.contrib import admin, messages

from stations import models
from stations.services.registry import RegistrationError, register_station


class EvseInline(admin.TabularInline):
    model = models.Evse
    extra = 0
    show_change_link = True


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(models.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "city", "country", "time_zone"]
    list_filter = ["organization", "country"]
    search_fields = ["name", "city", "address"]


@admin.register(models.ChargingStation)
class ChargingStationAdmin(admin.ModelAdmin):
    list_display = [
        "station_id", "site", "is_online", "last_seen", "registration_status", "vendor", "model",
        "firmware_version", "ocpp_version",
    ]
    list_filter = ["is_online", "registration_status", "ocpp_version", "vendor", "site"]
    search_fields = ["station_id", "serial_number", "vendor", "model"]
    readonly_fields = [
        "vendor", "model", "serial_number", "firmware_version", "iccid", "imsi", "ocpp_version", "status",
        "is_online", "connected_at", "last_seen", "last_boot_at", "boot_reason", "firmware_status",
        "firmware_status_at", "diagnostics_status", "diagnostics_status_at", "created_at",
    ]
    inlines = [EvseInline]
    actions = ["approve_registration", "reject_registration", "generate_new_password"]

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


@admin.register(models.Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "user", "created_at"]
    search_fields = ["email", "name"]


@admin.register(models.IdToken)
class IdTokenAdmin(admin.ModelAdmin):
    list_display = ["value", "type", "status", "expires_at", "driver"]
    list_filter = ["type", "status"]
    search_fields = ["value", "driver__email"]
    autocomplete_fields = ["driver"]


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
    ]
    list_filter = ["status", "offline"]
    search_fields = ["station__station_id", "transaction_id", "id_token_value"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in models.ChargingSession._meta.fields]
    inlines = [MeterSampleInline]

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
