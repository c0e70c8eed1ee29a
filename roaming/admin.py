"""Admin: partners (with their outbox and request log), outbox entries, request log, tokens;
as eMSP: partner locations, tariffs, our drivers' roaming sessions and CDRs (with the
settlement report for finance), commands sent, hub clients."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseBadRequest
from django.urls import path

from billing.exports import csv_response
from billing.invoice_selectors import can_export_invoices
from billing.invoicing import InvalidPeriod, parse_period, previous_period
from roaming import credentials, jobs, outbox, settlement
from roaming.envelope import OcpiError
from roaming.models import (
    HubClient,
    OutboxEntry,
    OutboxStatus,
    Partner,
    PartnerToken,
    RemoteCommand,
    RequestLog,
    RoamingCdr,
    RoamingLocation,
    RoamingSession,
    RoamingTariff,
)


class OutboxInline(admin.TabularInline):
    model = OutboxEntry
    fields = ("created_at", "method", "module", "path", "status", "attempts", "next_attempt_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-id",)

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(status=OutboxStatus.SENT)


class RequestLogInline(admin.TabularInline):
    model = RequestLog
    fields = ("at", "direction", "method", "url", "http_status", "ocpi_status", "duration_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    ordering = ("-at",)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # partners' URLs are https
    list_display = ("name", "role", "country_code", "party_id", "status", "version", "realtime_authorization")
    list_filter = ("status", "role")
    readonly_fields = ("status", "version", "endpoints", "roles", "created_at", "updated_at")
    exclude = ("outgoing_token",)
    inlines = [OutboxInline, RequestLogInline]
    actions = ["renew_credentials", "unregister", "deliver_now", "pull_now"]

    @admin.action(description="Pull locations and tariffs now (CPO partners)")
    def pull_now(self, request, queryset):
        for partner in queryset:
            jobs.enqueue("pull_partner", partner.pk)
        self.message_user(request, "pull scheduled")

    @admin.action(description="Renew our credentials at the selected partners (PUT)")
    def renew_credentials(self, request, queryset):
        for partner in queryset:
            try:
                credentials.update_with(partner=partner)
                self.message_user(request, f"{partner}: credentials renewed")
            except OcpiError as error:
                self.message_user(request, f"{partner}: {error}", messages.ERROR)

    @admin.action(description="Unregister from the selected partners (DELETE)")
    def unregister(self, request, queryset):
        for partner in queryset:
            try:
                credentials.unregister_with(partner=partner)
                self.message_user(request, f"{partner}: unregistered")
            except Exception as error:
                self.message_user(request, f"{partner}: {error}", messages.ERROR)

    @admin.action(description="Send waiting pushes now")
    def deliver_now(self, request, queryset):
        for partner in queryset:
            outbox.requeue(partner.outbox.filter(status=OutboxStatus.PENDING))
            outbox.schedule(partner.pk)
        self.message_user(request, "delivery scheduled")


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "partner", "method", "module", "path", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status", "module", "partner")
    readonly_fields = [f.name for f in OutboxEntry._meta.fields]
    actions = ["requeue"]

    @admin.action(description="Send again")
    def requeue(self, request, queryset):
        count = outbox.requeue(queryset)
        for partner_pk in set(queryset.values_list("partner_id", flat=True)):
            outbox.schedule(partner_pk)
        self.message_user(request, f"{count} entries requeued")


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ("at", "partner", "direction", "method", "url", "http_status", "ocpi_status", "duration_ms")
    list_filter = ("direction", "partner", "http_status")
    readonly_fields = [f.name for f in RequestLog._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(PartnerToken)
class PartnerTokenAdmin(admin.ModelAdmin):
    list_display = ("uid", "partner", "country_code", "party_id", "type", "contract_id", "realtime", "last_updated")
    list_filter = ("partner", "type", "realtime")
    search_fields = ("uid", "contract_id")
    readonly_fields = [f.name for f in PartnerToken._meta.fields]


def _read_only(model):
    return [f.name for f in model._meta.fields]


@admin.register(RoamingLocation)
class RoamingLocationAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "partner", "country_code", "party_id", "ocpi_id", "roaming_allowed",
                    "last_updated")
    list_filter = ("partner", "roaming_allowed")
    list_editable = ("roaming_allowed",)
    search_fields = ("name", "city", "ocpi_id")
    readonly_fields = [f for f in _read_only(RoamingLocation) if f != "roaming_allowed"]


@admin.register(RoamingTariff)
class RoamingTariffAdmin(admin.ModelAdmin):
    list_display = ("ocpi_id", "partner", "country_code", "party_id", "currency", "last_updated")
    list_filter = ("partner",)
    readonly_fields = _read_only(RoamingTariff)


@admin.register(RoamingSession)
class RoamingSessionAdmin(admin.ModelAdmin):
    list_display = ("ocpi_id", "partner", "driver", "status", "start_date_time", "kwh", "total_cost_incl_vat")
    list_filter = ("status", "partner")
    readonly_fields = _read_only(RoamingSession)


@admin.register(RoamingCdr)
class RoamingCdrAdmin(admin.ModelAdmin):
    """What partner CPOs charged for our drivers; finance reads it and takes the settlement CSV."""

    list_display = ("ocpi_id", "partner", "driver", "end_date_time", "total_energy_kwh", "total_cost_excl_vat",
                    "currency", "tariff_check", "expected_cost_excl_vat", "billed_cdr")
    list_filter = ("tariff_check", "partner", "currency")
    readonly_fields = _read_only(RoamingCdr)

    def has_view_permission(self, request, obj=None):
        return can_export_invoices(request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return can_export_invoices(request.user) or super().has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        return [path("settlement/", self.admin_site.admin_view(self.settlement_view), name="roaming_settlement")] \
            + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "settlement_period": previous_period()})

    def settlement_view(self, request):
        if not can_export_invoices(request.user):
            raise PermissionDenied
        try:
            period = parse_period(request.GET.get("period") or previous_period())
        except InvalidPeriod as error:
            return HttpResponseBadRequest(str(error))
        return csv_response(f"roaming-settlement-{period.code}.csv", settlement.COLUMNS, settlement.rows(period))


@admin.register(RemoteCommand)
class RemoteCommandAdmin(admin.ModelAdmin):
    list_display = ("created_at", "partner", "command", "driver", "response", "result")
    list_filter = ("command", "partner", "result")
    readonly_fields = _read_only(RemoteCommand)


@admin.register(HubClient)
class HubClientAdmin(admin.ModelAdmin):
    list_display = ("country_code", "party_id", "role", "status", "hub", "last_updated")
    list_filter = ("hub", "status", "role")
    readonly_fields = _read_only(HubClient)
