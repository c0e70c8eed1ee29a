"""What is owed to partners: network events (EVSE status, sites, sessions, CDRs, command
results) become outbox entries. Sending them is ``roaming.outbox``'s job."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from roaming import mapping
from roaming.models import OutboxEntry, Partner, PartnerStatus
from roaming.outbox import queue as _queue
from roaming.partners import receivers_of, registered_partners

# --- what is owed -------------------------------------------------------------------------


def push_evse_status(*, station_pk: int, evse_id: int) -> int:
    """PATCH the EVSE's status to every partner taking locations; EVSE 0 (the whole station,
    or its presence) means all its EVSEs. Returns the number of entries queued."""
    from stations.models import Evse

    partners = receivers_of("locations")
    if not partners:
        return 0
    evses = Evse.objects.filter(station_id=station_pk, station__site__isnull=False).select_related("station__site")
    if evse_id:
        evses = evses.filter(evse_id=evse_id)
    queued = 0
    for evse in evses.prefetch_related("connectors"):
        payload = {"status": mapping.evse_status(evse), "last_updated": mapping.ocpi_datetime(timezone.now())}
        path = f"/{mapping.cc()}/{mapping.party()}/{mapping.location_id(evse.station.site)}/{mapping.evse_uid(evse)}"
        for partner in partners:
            _queue(partner, module="locations", method="PATCH", path=path, object_key=f"evse:{evse.pk}",
                   payload=payload)
            queued += 1
    return queued


def push_location(*, site_pk: int) -> int:
    """PUT the whole Location to every partner taking locations: a site published or changed,
    a station accepted or moved there, a connector seen for the first time. Sites without an
    accepted station are not published and not sent. Returns the number of entries queued."""
    partners = receivers_of("locations")
    if not partners:
        return 0
    site = mapping.published_sites().filter(pk=site_pk).first()
    if site is None:
        return 0
    payload = mapping.location_to_ocpi(site)
    path = f"/{mapping.cc()}/{mapping.party()}/{mapping.location_id(site)}"
    for partner in partners:
        _queue(partner, module="locations", method="PUT", path=path, object_key=f"location:{site.pk}",
               payload=payload)
    return len(partners)


def _hub_routing(partner: Partner, session) -> dict:
    """Through a hub, a session or CDR goes to the eMSP that issued the token."""
    token = getattr(session.id_token, "roaming", None) if session.id_token_id else None
    if not partner.is_hub or token is None:
        return {}
    return {"to_country_code": token.country_code, "to_party_id": token.party_id}


def session_partner(session) -> Partner | None:
    token = session.id_token
    roaming = getattr(token, "roaming", None) if token is not None else None
    if roaming is None or roaming.partner.status != PartnerStatus.REGISTERED:
        return None
    return roaming.partner


def push_session(*, session_pk: int, update: bool = False, final: bool = False) -> bool:
    """PUT the whole Session to its token's eMSP. ``update``: a meter update, sent at most
    once per OCPI_SESSION_UPDATE_INTERVAL_S per session. ``final``: the completed session,
    sent once (the CDR push sends it first if it is not queued yet)."""
    from stations.models import ChargingSession

    if not registered_partners():
        return False  # no roaming at all: nothing to look up
    session = ChargingSession.objects.select_related(
        "station__site", "evse__station", "connector", "id_token__roaming__partner"
    ).filter(pk=session_pk).first()
    if session is None:
        return False
    partner = session_partner(session)
    if partner is None or not partner.endpoint("sessions"):
        return False
    key = f"session:{session.pk}"
    if final and OutboxEntry.objects.filter(partner=partner, object_key=key,
                                            payload__status="COMPLETED").exists():
        return False
    if update:
        since = timezone.now() - timedelta(seconds=settings.OCPI_SESSION_UPDATE_INTERVAL_S)
        if OutboxEntry.objects.filter(partner=partner, object_key=key, created_at__gte=since).exists():
            return False
    _queue(partner, module="sessions", method="PUT", object_key=key,
           path=f"/{mapping.cc()}/{mapping.party()}/{session.pk}", payload=mapping.session_to_ocpi(session),
           **_hub_routing(partner, session))
    return True


def push_cdr(*, cdr_pk: int) -> bool:
    from billing.models import ChargeDetailRecord

    cdr = ChargeDetailRecord.objects.select_related(
        "session__station__site", "session__evse__station", "session__connector", "session__id_token__roaming__partner"
    ).filter(pk=cdr_pk).first()
    if cdr is None:
        return False
    partner = session_partner(cdr.session)
    if partner is None or not partner.endpoint("cdrs"):
        return False
    push_session(session_pk=cdr.session_id, final=True)  # the eMSP hears the session end before its CDR
    _queue(partner, module="cdrs", method="POST", object_key=f"cdr:{cdr.pk}", payload=mapping.cdr_to_ocpi(cdr),
           **_hub_routing(partner, cdr.session))
    return True


def push_result(*, partner: Partner, module: str, response_url: str, payload: dict) -> OutboxEntry:
    """An asynchronous result (charging profiles) POSTed to the partner's response_url."""
    return _queue(partner, module=module, method="POST", url=response_url, payload=payload)


def push_command_result(*, partner: Partner, response_url: str, result: str, message: str = "") -> OutboxEntry:
    payload = {"result": result}
    if message:
        payload["message"] = [{"language": "en", "text": message[:512]}]
    return _queue(partner, module="commands", method="POST", url=response_url, payload=payload)
