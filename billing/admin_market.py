"""Market price feeds in the admin: configure a feed, import it now, see its stored curve."""

from django.contrib import admin, messages

from billing.market import MarketImportError, import_feed
from billing.models import MarketPrice, MarketPriceFeed


@admin.register(MarketPriceFeed)
class MarketPriceFeedAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "source", "currency", "unit", "margin_per_kwh", "vat", "enabled",
                    "last_imported_at", "last_error"]
    list_filter = ["kind", "enabled"]
    filter_horizontal = ["load_sites"]
    readonly_fields = ["last_imported_at", "last_error"]
    actions = ["import_now"]

    @admin.action(description="Import the selected feeds now")
    def import_now(self, request, queryset):
        for feed in queryset:
            try:
                count = import_feed(feed=feed)
            except MarketImportError as error:
                self.message_user(request, f"{feed.name}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{feed.name}: {count} prices imported", messages.SUCCESS)


@admin.register(MarketPrice)
class MarketPriceAdmin(admin.ModelAdmin):
    list_display = ["feed", "starts_at", "ends_at", "price_per_kwh"]
    list_filter = ["feed"]
    date_hierarchy = "starts_at"

    def has_add_permission(self, request):
        return False  # prices come from the feed's import

    def has_change_permission(self, request, obj=None):
        return False
