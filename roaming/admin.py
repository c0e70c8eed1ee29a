"""Admin: partners (with their outbox and request log), outbox entries, request log, tokens."""

from django.contrib import admin, messages
from django.db import models

from roaming import credentials, outbox
from roaming.envelope import OcpiError
from roaming.models import OutboxEntry, OutboxStatus, Partner, PartnerToken, RequestLog


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
    actions = ["renew_credentials", "unregister", "deliver_now"]

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
