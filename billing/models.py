"""Tariffs, CDRs and invoices arrive with the billing issue."""
