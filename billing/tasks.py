"""Celery tasks of billing. Eager without REDIS_URL; with it, run by any worker."""

from celery import shared_task


@shared_task(name="billing.price_session", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def price_session(session_id: int) -> str | None:
    """Write the CDR of a completed session (idempotent). Returns its CDR id."""
    from billing.cdrs import create_cdr

    cdr = create_cdr(session_id=session_id)
    return cdr.cdr_id if cdr is not None else None


@shared_task(name="billing.run_invoicing")
def run_invoicing(period: str | None = None) -> dict:
    """Invoice a month (YYYY-MM; default: the previous month). Celery beat runs it on the 1st."""
    from billing.invoicing import previous_period
    from billing.invoicing import run_invoicing as run

    return run(period=period or previous_period()).as_dict()


@shared_task(name="billing.import_market_prices")
def import_market_prices() -> dict:
    """Import every enabled market price feed (Celery beat, hourly: day-ahead prices appear once a day)."""
    from billing.market import import_enabled_feeds

    return import_enabled_feeds()


@shared_task(name="billing.send_running_costs")
def send_running_costs() -> dict:
    """Every OCPP_COST_UPDATE_INTERVAL_S (Celery beat): the running cost to each station that shows costs."""
    from asgiref.sync import async_to_sync

    from billing.station_prices import send_running_costs as send

    return async_to_sync(send)()


@shared_task(name="billing.send_station_command")
def send_station_command(station_id: str, command: str, params: dict) -> str:
    """A price command (DefaultPrice, FinalCost) from a process without a server loop (a worker)."""
    from stations.commands.service import send_command

    return send_command(station_id=station_id, command=command, params=params, source="billing").outcome
