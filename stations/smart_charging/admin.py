"""Admin pages of smart charging: a site's load limit with its power chart, and every
charging profile sent to or reported by a station. Scoped like the API."""

from django.contrib import admin, messages
from django.utils.safestring import mark_safe

from stations.models import ChargingProfile, SiteLoadLimit, SiteLoadLimitPeriod, SiteLoadSample
from stations.selectors import sites_visible_to, stations_visible_to
from stations.smart_charging import charts
from stations.smart_charging.dispatch import request_rebalance


class PeriodInline(admin.TabularInline):
    model = SiteLoadLimitPeriod
    extra = 1
    verbose_name = "period with a lower limit"


@admin.register(SiteLoadLimit)
class SiteLoadLimitAdmin(admin.ModelAdmin):
    list_display = ["site", "enabled", "max_power_w", "max_current_a", "optimise_for", "last_rebalanced_at"]
    list_filter = ["enabled", "optimise_for"]
    inlines = [PeriodInline]
    readonly_fields = ["power_chart", "last_rebalanced_at"]
    fieldsets = [
        (None, {"fields": ["site", "enabled", "max_power_w", "max_current_a", "voltage_v", "max_export_power_w"]}),
        ("Price or PV curve", {"fields": ["optimise_for", "curve"], "classes": ["collapse"]}),
        ("Re-balancing", {
            "fields": ["min_interval_s", "dead_band_w", "meter_rebalance_interval_s", "profile_validity_s"],
            "classes": ["collapse"],
        }),
        ("Power over the last 24 hours", {"fields": ["power_chart", "last_rebalanced_at"]}),
    ]
    actions = ["rebalance_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(site__in=sites_visible_to(request.user)).select_related("site")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "site":
            kwargs["queryset"] = sites_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="site power")
    def power_chart(self, config):
        if config.pk is None:
            return "—"
        from datetime import timedelta

        from django.utils import timezone

        samples = list(SiteLoadSample.objects.filter(site=config.site, at__gte=timezone.now() - timedelta(hours=24)))
        title = f"{config.site}: drawn and fed back, with the import and export limits"
        return mark_safe(charts.power_chart_svg(samples, title=title))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from stations.smart_charging.api import apply_site_limit

        apply_site_limit(form.instance)  # periods are saved now too

    @admin.action(description="Re-balance now")
    def rebalance_now(self, request, queryset):
        for config in queryset.filter(enabled=True):
            request_rebalance(site_pk=config.site_id, reason="admin")
        self.message_user(request, "Re-balance requested.", messages.SUCCESS)


@admin.register(ChargingProfile)
class ChargingProfileAdmin(admin.ModelAdmin):
    list_display = ["station", "evse_id", "profile_id", "purpose", "stack_level", "first_limit",
                    "charging_rate_unit", "status", "source", "updated_at"]
    list_filter = ["status", "source", "purpose"]
    search_fields = ["station__station_id", "transaction_id"]
    readonly_fields = [f.name for f in ChargingProfile._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(station__in=stations_visible_to(request.user)).select_related(
            "station"
        )

    def has_add_permission(self, request):
        return False  # profiles are sent through the API or the station's command form

    def has_change_permission(self, request, obj=None):
        return False
