"""What billing tells other apps (roaming pushes CDRs). Sent after the writing transaction commits."""

from django.dispatch import Signal

cdr_created = Signal()  # kwargs: cdr_pk
market_prices_imported = Signal()  # kwargs: feed_pk; the load manager's curves follow it
