"""Admin: a station's periodic event streams and their latest values (also inline on the
station's page)."""

from django.contrib import admin
from django.utils.html import format_html_join

from stations.streams.models import PeriodicEventStream

RECENT_VALUES = 20


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "open"), ("no", "closed")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(closed_at__isnull=self.value() == "yes")
        return queryset


@admin.register(PeriodicEventStream)
class PeriodicEventStreamAdmin(admin.ModelAdmin):
    list_display = ["station", "stream_id", "variable_monitoring_id", "interval_s", "values", "is_open",
                    "last_value", "last_value_at", "samples_received"]
    list_filter = [OpenFilter]
    search_fields = ["station__station_id"]
    list_select_related = ["station"]
    fields = ["station", "stream_id", "variable_monitoring_id", "interval_s", "values", "opened_at", "closed_at",
              "last_value", "last_value_at", "samples_received", "recent_values"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="open")
    def is_open(self, stream):
        return stream.is_open

    @admin.display(description=f"latest {RECENT_VALUES} values")
    def recent_values(self, stream):
        rows = stream.samples.order_by("-timestamp")[:RECENT_VALUES]
        return format_html_join("", "<div>{} &nbsp; {}</div>", ((s.timestamp.isoformat(), s.value) for s in rows))


class PeriodicEventStreamInline(admin.TabularInline):
    """Open streams on the station's page."""

    model = PeriodicEventStream
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "periodic event streams (open)"
    fields = ["stream_id", "variable_monitoring_id", "interval_s", "values", "opened_at", "last_value",
              "last_value_at", "samples_received"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(closed_at__isnull=True)

    def has_add_permission(self, request, obj=None):
        return False
