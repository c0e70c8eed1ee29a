"""Tariffs, where they apply, driver groups and CDRs in the admin.

A tariff's JSON (elements, prices, energy mix, alternative texts) is edited as text and
checked exactly as the API checks it (`billing.tariffs.TariffSerializer`: OCPI structure,
then `billing.pricing.validate_tariff`). CDRs and tariff snapshots are read-only.
"""

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html, format_html_join
from django.http import JsonResponse
from django.urls import path

from billing.models import CdrVatLine, ChargeDetailRecord, DriverGroup, SessionTariff, Tariff, TariffAssignment
from billing.tariff_preview import PreviewError, PreviewSession, preview_cost
from billing.tariffs import TariffAssignmentError, TariffSerializer, check_tariff_fits_place, set_default_tariff

_OCPI_FIELDS = {  # OCPI name -> model field
    "country_code": "country_code", "party_id": "party_id", "id": "tariff_id", "currency": "currency",
    "type": "type", "tariff_alt_text": "tariff_alt_text", "tariff_alt_url": "tariff_alt_url",
    "min_price": "min_price", "max_price": "max_price", "elements": "elements", "energy_mix": "energy_mix",
    "start_date_time": "start_date_time", "end_date_time": "end_date_time",
}


def _messages(detail, path: str = "") -> list[str]:
    """DRF's nested error detail as lines: "elements[0].price_components[1].vat: must be ..."."""
    if isinstance(detail, dict):  # fields by name, list items by index
        return [
            line
            for key, value in detail.items()
            for line in _messages(
                value,
                path if key == "non_field_errors" else f"{path}[{key}]" if isinstance(key, int)
                else f"{path}.{key}".lstrip("."),
            )
        ]
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        return [line for n, item in enumerate(detail) if item for line in _messages(item, f"{path}[{n}]")]
    items = detail if isinstance(detail, list) else [detail]
    return [f"{path}: {item}" if path else str(item) for item in items]


class TariffForm(forms.ModelForm):
    # Not the model field: the one default moves here from wherever it was (see save_model),
    # which the "one default" constraint would refuse as a plain field edit.
    network_default = forms.BooleanField(
        required=False, help_text="used where no assignment applies; only a network-wide tariff can be it"
    )
    tariff_alt_url = forms.URLField(required=False, max_length=255, assume_scheme="https")

    class Meta:
        model = Tariff
        fields = [
            "tariff_id", "organization", "network_default", "country_code", "party_id", "currency", "type",
            "tariff_alt_text", "tariff_alt_url", "min_price", "max_price", "elements", "energy_mix",
            "start_date_time", "end_date_time", "feed_in_price", "market_feed",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": rows, "cols": 100, "style": "font-family: monospace"})
            for name, rows in [("elements", 16), ("tariff_alt_text", 3), ("min_price", 2), ("max_price", 2),
                               ("energy_mix", 4)]
        }
        help_texts = {"elements": "Edited with the structured editor above; the JSON stays the truth (OCPI 2.2.1)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["network_default"].initial = self.instance.is_default

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("network_default") and cleaned.get("organization") is not None:
            self.add_error("network_default", "only a network-wide tariff (no organisation) can be the default")
        if self.errors:
            return cleaned
        ocpi = {name: cleaned.get(field) for name, field in _OCPI_FIELDS.items()}
        ocpi["type"] = ocpi["type"] or None
        ocpi["tariff_alt_url"] = ocpi["tariff_alt_url"] or None
        ocpi["tariff_alt_text"] = ocpi["tariff_alt_text"] or []
        serializer = TariffSerializer(instance=self.instance if self.instance.pk else None, data=ocpi)
        if not serializer.is_valid():
            for name, detail in serializer.errors.items():
                field = _OCPI_FIELDS.get(name)
                if field in self.fields:
                    nested = isinstance(detail, dict) or any(isinstance(item, dict | list) for item in detail)
                    self.add_error(field, _messages(detail, name if nested else ""))
                else:
                    self.add_error(None, _messages(detail))
        return cleaned


class TariffAssignmentForm(forms.ModelForm):
    class Meta:
        model = TariffAssignment
        fields = ["tariff", "site", "station", "evse", "driver_group"]

    def clean(self):
        cleaned = super().clean()
        places = [cleaned.get(name) for name in ("site", "station", "evse") if cleaned.get(name) is not None]
        if len(places) != 1:
            raise ValidationError("choose exactly one place: a site, a station or an EVSE")
        if cleaned.get("tariff") is not None:
            try:
                check_tariff_fits_place(cleaned["tariff"], places[0])
            except TariffAssignmentError as error:
                self.add_error("tariff", str(error))
        return cleaned


class TariffAssignmentInline(admin.TabularInline):
    model = TariffAssignment
    form = TariffAssignmentForm
    extra = 0
    autocomplete_fields = ["site", "station", "driver_group"]
    raw_id_fields = ["evse"]


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    form = TariffForm
    list_display = ["tariff_id", "currency", "type", "organization", "is_default", "start_date_time",
                    "end_date_time", "last_updated"]
    list_filter = ["is_default", "currency", "type", "organization"]
    search_fields = ["tariff_id"]
    readonly_fields = ["last_updated"]
    inlines = [TariffAssignmentInline]
    actions = ["make_default"]
    change_form_template = "admin/billing/tariff/change_form.html"

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="billing_tariff_preview"),
        ] + super().get_urls()

    @staticmethod
    def _preview_session(data: dict) -> PreviewSession:
        try:
            return PreviewSession(
                start_local=datetime.fromisoformat(str(data.get("start") or "2026-01-05T18:00")).replace(tzinfo=None),
                time_zone=str(data.get("time_zone") or "UTC"),
                energy_kwh=Decimal(str(data.get("energy_kwh") or 0)),
                charging_minutes=int(data.get("charging_minutes") or 0),
                parking_minutes=int(data.get("parking_minutes") or 0),
            )
        except (ValueError, InvalidOperation) as error:
            raise PreviewError(f"check the session: {error}") from error

    def preview_view(self, request):
        """POST {tariff: {currency, elements, min_price?, max_price?}, session: {...}}: the
        breakdown, or {"error": ...} with 400. Nothing is saved."""
        if request.method != "POST":
            return JsonResponse({"error": "POST a tariff and a session"}, status=405)
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            body = json.loads(request.body or b"{}")
            tariff = body.get("tariff") or {}
            tariff = {key: tariff.get(key) for key in ("currency", "elements", "min_price", "max_price") if
                      tariff.get(key) not in (None, "")}
            return JsonResponse(preview_cost(tariff=tariff, session=self._preview_session(body.get("session") or {})))
        except (ValueError, AttributeError, PreviewError) as error:
            return JsonResponse({"error": str(error)}, status=400)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data["network_default"] and not obj.is_default:
            set_default_tariff(tariff=obj)
        elif not form.cleaned_data["network_default"] and obj.is_default:
            set_default_tariff(tariff=None)

    @admin.action(description="Make it the network's default tariff")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "choose exactly one tariff", messages.ERROR)
            return
        try:
            set_default_tariff(tariff=queryset.get())
        except TariffAssignmentError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(request, f"{queryset.get().tariff_id} is now the default tariff", messages.SUCCESS)


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(admin.ModelAdmin):
    form = TariffAssignmentForm
    list_display = ["tariff", "site", "station", "evse", "driver_group"]
    list_filter = ["driver_group"]
    list_select_related = ["tariff", "site", "station", "evse__station", "driver_group"]
    search_fields = ["tariff__tariff_id", "station__station_id", "site__name"]
    autocomplete_fields = ["tariff", "site", "station", "driver_group"]
    raw_id_fields = ["evse"]


@admin.register(DriverGroup)
class DriverGroupAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]
    filter_horizontal = ["drivers"]
    inlines = [TariffAssignmentInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CdrVatLineInline(admin.TabularInline):
    model = CdrVatLine
    fields = ["vat_rate", "base", "vat"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChargeDetailRecord)
class ChargeDetailRecordAdmin(ReadOnlyAdmin):
    """Immutable: corrections go through credit notes."""

    list_display = ["cdr_id", "station_id_text", "site_name", "driver", "end_date_time", "total_energy_kwh",
                    "total_cost_incl_vat", "currency"]
    list_filter = ["currency", "site_name"]
    list_select_related = ["driver"]
    search_fields = ["cdr_id", "station_id_text", "id_token_value", "driver__email"]
    date_hierarchy = "end_date_time"
    inlines = [CdrVatLineInline]
    fields = ["cdr_id", "session", "driver", "station_id_text", "site_name", "id_token_value", "start_date_time",
              "end_date_time", "time_zone", "currency", "total_energy_kwh", "total_time_h", "total_parking_time_h",
              "total_cost_excl_vat", "total_vat", "total_cost_incl_vat", "price_lines", "tariff_used"]
    readonly_fields = fields

    @admin.display(description="price breakdown")
    def price_lines(self, cdr):
        """The priced lines as a table (what the invoice line is made of), not the JSON."""
        units = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "×"}
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td>"
                                    "<td>{}</td></tr>", (
            ("" if line.get("element_index") is None else line["element_index"] + 1,
             line.get("component", "").replace("_", " ").lower(), line.get("billed_volume", ""),
             units.get(line.get("component"), ""), line.get("unit_price", ""),
             "none" if line.get("vat_rate") is None else f"{line['vat_rate']} %",
             line.get("amount_excl_vat", ""), line.get("amount_incl_vat", ""))
            for line in (cdr.breakdown or {}).get("lines", [])))
        return format_html('<table class="price-lines"><thead><tr><th>Element</th><th>Component</th><th>Billed</th>'
                           "<th>Unit price</th><th>VAT</th><th>Excl. VAT</th><th>Incl. VAT</th></tr></thead>"
                           "<tbody>{}</tbody></table>", rows or format_html('<tr><td colspan="7">No lines.</td></tr>'))

    @admin.display(description="tariff used (OCPI)")
    def tariff_used(self, cdr):
        return format_html("<details><summary>{}</summary><pre>{}</pre></details>", (cdr.tariff or {}).get("id", ""),
                           json.dumps(cdr.tariff, indent=2))


@admin.register(SessionTariff)
class SessionTariffAdmin(ReadOnlyAdmin):
    list_display = ["session", "tariff", "time_zone", "driver_known", "station_cost", "cost_difference",
                    "cost_mismatch", "taken_at"]
    list_filter = ["cost_mismatch"]
    list_select_related = ["session__station", "tariff"]
    raw_id_fields = ["session"]
