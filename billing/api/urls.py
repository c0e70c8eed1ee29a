from django.urls import path
from rest_framework.routers import DefaultRouter

from billing.api import invoice_views, tariff_views

router = DefaultRouter()
router.register("tariffs", tariff_views.TariffViewSet, basename="tariff")
router.register("tariff-assignments", tariff_views.TariffAssignmentViewSet, basename="tariff-assignment")
router.register("cdrs", tariff_views.CdrViewSet, basename="cdr")
router.register("invoices", invoice_views.InvoiceViewSet, basename="invoice")

urlpatterns = router.urls + [
    # ARCHITECTURE.md's spelling, without the router's trailing slash.
    path("invoices/<int:pk>/pdf", invoice_views.InvoicePdfView.as_view(
        {"get": "pdf"}, detail=True, basename="invoice", **invoice_views.InvoiceViewSet.pdf.kwargs,
    ), name="invoice-pdf-file"),
    path("exports/invoices.csv", invoice_views.invoices_csv, name="export-invoices-csv"),
    path("exports/invoice-lines.csv", invoice_views.invoice_lines_csv, name="export-invoice-lines-csv"),
]
