"""Billing in the admin: tariffs and CDRs (admin_tariffs), invoices and exports (admin_invoices),
market price feeds (admin_market)."""

from billing import admin_invoices, admin_market, admin_tariffs  # noqa: F401  (they register the ModelAdmins)
