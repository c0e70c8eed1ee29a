"""StatusNotification: connector and station availability, with history."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_save

from stations.models import ChargingStation, Connector, ConnectorStatus, ConnectorStatusChange, Evse
from stations.signals import announce_on_commit, connector_status_changed


def ensure_connector(*, station_pk: int, evse_id: int, connector_id: int = 1) -> Connector:
    """The connector, created with its EVSE on first report. One query when it exists."""
    connector = (
        Connector.objects.select_related("evse")
        .filter(evse__station_id=station_pk, evse__evse_id=evse_id, connector_id=connector_id)
        .first()
    )
    if connector is not None:
        return connector
    evse, _ = Evse.objects.get_or_create(station_id=station_pk, evse_id=evse_id)
    connector, _ = Connector.objects.get_or_create(evse=evse, connector_id=connector_id)
    return connector


def normalise_status(status: str) -> str:
    return status if status in ConnectorStatus.values else ConnectorStatus.UNKNOWN


@transaction.atomic
def record_status(
    *,
    station_pk: int,
    evse_id: int,
    connector_id: int,
    status: str,
    timestamp: datetime,
    error_code: str = "",
    info: str = "",
    vendor_error_code: str = "",
) -> None:
    """Record a status report. EVSE 0 is the station as a whole (1.6 connector 0).

    A report older than the one already stored goes into the history only, so a station
    replaying its queue after an outage does not overwrite the current state.
    """
    status = normalise_status(status)
    if evse_id == 0:
        ChargingStation.objects.filter(pk=station_pk).filter(
            Q(status_at__isnull=True) | Q(status_at__lte=timestamp)
        ).update(status=status, status_at=timestamp)
        announce_on_commit(
            connector_status_changed, station_pk=station_pk, evse_id=0, connector_id=0, status=status,
            error_code=error_code or "",
        )
        return
    connector = ensure_connector(station_pk=station_pk, evse_id=evse_id, connector_id=connector_id)
    ConnectorStatusChange.objects.create(
        connector=connector, status=status, error_code=error_code or "", info=(info or "")[:50],
        timestamp=timestamp,
    )
    if connector.status_at is None or timestamp >= connector.status_at:
        connector.status = status
        connector.error_code = error_code or ""
        connector.info = (info or "")[:50]
        connector.vendor_error_code = (vendor_error_code or "")[:50]
        connector.status_at = timestamp
        connector.save(update_fields=["status", "error_code", "info", "vendor_error_code", "status_at"])
        announce_on_commit(
            connector_status_changed, station_pk=station_pk, evse_id=evse_id, connector_id=connector_id,
            status=status, error_code=connector.error_code,
        )


@dataclass(frozen=True)
class StatusReport:
    """One StatusNotification of a connector (EVSE >= 1), as ``record_status`` takes it."""

    station_pk: int
    evse_id: int
    connector_id: int
    status: str
    timestamp: datetime
    error_code: str = ""
    info: str = ""
    vendor_error_code: str = ""


def _connectors_of(reports: list[StatusReport]) -> dict[tuple[int, int, int], Connector]:
    return {
        (c.evse.station_id, c.evse.evse_id, c.connector_id): c
        for c in Connector.objects.select_related("evse").filter(
            evse__station_id__in={r.station_pk for r in reports}, evse__evse_id__in={r.evse_id for r in reports},
            connector_id__in={r.connector_id for r in reports},
        )
    }


@transaction.atomic
def record_statuses(reports: list[StatusReport]) -> list[bool]:
    """The reports of many stations in one transaction, as ``record_status`` would record
    each: one query reads their connectors, one writes the history rows, one the changed
    connectors. Returns True per report (a report whose connector does not exist yet is
    created here like ``ensure_connector`` does)."""
    connectors = _connectors_of(reports)
    missing = {(r.station_pk, r.evse_id, r.connector_id) for r in reports} - connectors.keys()
    if missing:
        # A fleet's first reports: create their EVSEs and connectors together, not one by one.
        Evse.objects.bulk_create(
            [Evse(station_id=station_pk, evse_id=evse_id) for station_pk, evse_id in {k[:2] for k in missing}],
            ignore_conflicts=True,
        )
        evses = {
            (e.station_id, e.evse_id): e
            for e in Evse.objects.filter(
                station_id__in={k[0] for k in missing}, evse_id__in={k[1] for k in missing}
            )
        }
        Connector.objects.bulk_create(
            [Connector(evse=evses[key[:2]], connector_id=key[2]) for key in missing if key[:2] in evses],
            ignore_conflicts=True,
        )
        connectors = _connectors_of(reports)
        for key in missing:  # bulk_create sends no post_save; its receivers still hear of them
            if key in connectors:
                post_save.send(sender=Connector, instance=connectors[key], created=True, update_fields=None,
                               raw=False, using=connectors[key]._state.db)
    history, changed = [], {}
    for report in reports:
        key = (report.station_pk, report.evse_id, report.connector_id)
        connector = connectors.get(key)
        if connector is None:  # its station was deleted meanwhile
            connector = connectors[key] = ensure_connector(
                station_pk=report.station_pk, evse_id=report.evse_id, connector_id=report.connector_id
            )
        status, error_code, info = normalise_status(report.status), report.error_code or "", (report.info or "")[:50]
        history.append(ConnectorStatusChange(
            connector=connector, status=status, error_code=error_code, info=info, timestamp=report.timestamp,
        ))
        if connector.status_at is None or report.timestamp >= connector.status_at:
            connector.status = status
            connector.error_code = error_code
            connector.info = info
            connector.vendor_error_code = (report.vendor_error_code or "")[:50]
            connector.status_at = report.timestamp
            changed[connector.pk] = connector
            announce_on_commit(
                connector_status_changed, station_pk=report.station_pk, evse_id=report.evse_id,
                connector_id=report.connector_id, status=status, error_code=error_code,
            )
    ConnectorStatusChange.objects.bulk_create(history)
    if changed:
        Connector.objects.bulk_update(
            list(changed.values()), ["status", "error_code", "info", "vendor_error_code", "status_at"]
        )
    return [True] * len(reports)
