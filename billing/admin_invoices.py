"""Invoices in the admin: read-only (issued invoices never change), with their lines inline,
PDF downloads, CSV exports, credit notes and an on-demand invoicing run.

Finance (the ``Finance`` group, staff) and operators may use it without model permissions;
every action calls the same services as the API, the Celery task and the command.
"""

import io
import zipfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from billing.exports import invoice_lines_csv_response, invoices_csv_response
from billing.invoice_selectors import is_finance
from billing.invoicing import (
    MAX_CREDIT_REASON_LENGTH,
    CreditNoteError,
    InvalidPeriod,
    issue_credit_note,
    parse_period,
    previous_period,
    run_invoicing,
)
from billing.models import Invoice, InvoiceKind, InvoiceLine
from billing.pdf import pdf_filename, render_invoice_pdf


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ["cdr", "description", "energy_kwh", "amount_excl_vat", "vat", "amount_incl_vat", "credit"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cdr")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_finance(request.user) or super().has_view_permission(request, obj)


class RunInvoicingForm(forms.Form):
    period = forms.CharField(max_length=7, help_text="YYYY-MM; a month that has ended")

    def clean_period(self):
        try:
            period = parse_period(self.cleaned_data["period"])
        except InvalidPeriod as error:
            raise forms.ValidationError(str(error))
        if not period.has_ended:
            raise forms.ValidationError(f"{period.code} has not ended yet")
        return period.code


class ExportMonthForm(forms.Form):
    period = forms.CharField(max_length=7, label="Month", widget=forms.TextInput(attrs={"type": "month"}),
                             help_text="YYYY-MM: its invoices and the credit notes that correct them")
    what = forms.ChoiceField(choices=[("invoices", "Invoices (one row each)"),
                                      ("lines", "Invoice lines (one row per charging session)")], label="Export")

    def clean_period(self):
        try:
            return parse_period(self.cleaned_data["period"]).code
        except InvalidPeriod as error:
            raise forms.ValidationError(str(error))


class CreditNoteForm(forms.Form):
    reason = forms.CharField(max_length=MAX_CREDIT_REASON_LENGTH, help_text="shown on every line of the credit note")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number", "kind", "customer_name", "period", "currency", "total_excl_vat", "total_vat", "total_incl_vat",
        "issued_at", "credits", "pdf_link",
    ]
    list_filter = ["kind", "period", "currency", "series"]
    search_fields = ["number", "customer_name", "customer_email"]
    date_hierarchy = "issued_at"
    list_select_related = ["credits"]
    fields = [
        "number", "kind", "credits", "series", "sequence", "period", "issued_at", "driver", "customer_name",
        "customer_email", "customer_address", "currency", "total_excl_vat", "total_vat", "total_incl_vat", "vat_table",
    ]
    readonly_fields = fields
    inlines = [InvoiceLineInline]
    actions = ["download_pdf", "export_invoices_csv", "export_lines_csv", "credit_in_full"]
    change_list_template = "admin/billing/invoice/change_list.html"
    change_form_template = "admin/billing/invoice/change_form.html"

    # --- read-only, and open to finance --------------------------------------------
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_finance(request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return is_finance(request.user) or super().has_module_permission(request)

    def has_finance_permission(self, request):
        return is_finance(request.user)

    @admin.display(description="VAT summary")
    def vat_table(self, invoice):
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            ("none" if entry.get("rate") is None else f"{entry['rate']} %", entry.get("base", ""), entry.get("vat", ""))
            for entry in invoice.vat_summary or []))
        return format_html('<table class="vat-summary"><thead><tr><th>VAT rate</th><th>Base</th><th>VAT</th></tr>'
                           "</thead><tbody>{}</tbody></table>", rows)

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, pdf_filename(invoice))

    # --- extra pages ------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("run-invoicing/", view(self.run_invoicing_view), name="billing_invoice_run"),
            path("export-month/", view(self.export_month_view), name="billing_invoice_export_month"),
            path("<int:object_id>/pdf/", view(self.pdf_view), name="billing_invoice_pdf"),
        ] + super().get_urls()

    def export_month_view(self, request):
        """A month's invoices or lines as CSV, the file named for the month (finance's monthly
        hand-over), from a month picker instead of selecting rows page by page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ExportMonthForm(request.GET or None, initial={"period": previous_period(), "what": "invoices"})
        if request.GET and form.is_valid():
            period, what = form.cleaned_data["period"], form.cleaned_data["what"]
            invoices = self.get_queryset(request).filter(period=period)
            if what == "lines":
                return invoice_lines_csv_response(InvoiceLine.objects.filter(invoice__in=invoices),
                                                  f"invoice-lines-{period}.csv")
            return invoices_csv_response(invoices, f"invoices-{period}.csv")
        context = {**self.admin_site.each_context(request), "title": "Export a month", "opts": self.model._meta,
                   "form": form}
        return TemplateResponse(request, "admin/billing/invoice/export_month.html", context)

    def pdf_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("credits"), pk=object_id)
        return _pdf_response(invoice)

    def run_invoicing_view(self, request):
        if not self.has_finance_permission(request):
            raise PermissionDenied
        form = RunInvoicingForm(request.POST or None, initial={"period": previous_period()})
        if request.method == "POST" and form.is_valid():
            result = run_invoicing(period=form.cleaned_data["period"])
            summary = (
                f"Invoicing {result.period}: {result.invoices_created} invoices with {result.lines_created} lines"
                + (f" ({result.first_number} to {result.last_number})" if result.invoices_created else "")
                + f"; {result.skipped_already_invoiced} customers already invoiced,"
                f" {result.skipped_without_customer} CDRs without a customer, {result.late_cdrs} late CDRs."
            )
            self.message_user(request, summary, messages.WARNING if result.late_cdrs else messages.SUCCESS)
            return redirect(f"{reverse('admin:billing_invoice_changelist')}?period__exact={result.period}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Run invoicing",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/invoice/run_invoicing.html", context)

    # --- actions ----------------------------------------------------------------------
    @admin.action(description="Download PDF", permissions=["view"])
    def download_pdf(self, request, queryset):
        invoices = list(queryset.select_related("credits").order_by("series__code", "sequence")[:501])
        if len(invoices) > 500:
            self.message_user(request, "Select at most 500 invoices for a PDF download.", messages.ERROR)
            return None
        if len(invoices) == 1:
            return _pdf_response(invoices[0], disposition="attachment")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for invoice in invoices:
                bundle.writestr(pdf_filename(invoice), render_invoice_pdf(invoice))
        response = HttpResponse(archive.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="invoices.zip"'
        return response

    @admin.action(description="Export selected invoices as CSV", permissions=["finance"])
    def export_invoices_csv(self, request, queryset):
        return invoices_csv_response(queryset, "invoices.csv")

    @admin.action(description="Export lines of selected invoices as CSV", permissions=["finance"])
    def export_lines_csv(self, request, queryset):
        return invoice_lines_csv_response(InvoiceLine.objects.filter(invoice__in=queryset), "invoice-lines.csv")

    @admin.action(description="Issue a credit note (full reversal)", permissions=["finance"])
    def credit_in_full(self, request, queryset):
        invoices = queryset.filter(kind=InvoiceKind.INVOICE).order_by("series__code", "sequence")
        form = CreditNoteForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for invoice in invoices:
                try:
                    note = issue_credit_note(invoice=invoice, reason=form.cleaned_data["reason"])
                except CreditNoteError as error:
                    self.message_user(request, f"{invoice.number}: {error}", messages.ERROR)
                else:
                    self.message_user(request, f"{note.number} credits {invoice.number}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Issue credit notes",
            "opts": self.model._meta,
            "form": form,
            "invoices": invoices,
            "skipped": queryset.exclude(kind=InvoiceKind.INVOICE).count(),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/invoice/credit_note.html", context)


def _pdf_response(invoice: Invoice, disposition: str = "inline") -> HttpResponse:
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'{disposition}; filename="{pdf_filename(invoice)}"'
    return response
