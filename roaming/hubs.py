"""Hubs: one connection, many parties. Incoming, a hub's request names the party it comes
from (OCPI-from-*) and the object's own country code and party id say whose it is; outgoing,
we name the party we mean (OCPI-to-*, see roaming.auth). ``hubclientinfo`` tells us which
parties behind the hub are reachable (RemoteCommand refuses a party that is not CONNECTED)."""

from django.db import transaction

from roaming.envelope import INVALID_PARAMETERS, OcpiError
from roaming.models import HubClient, Partner
from roaming.partner_data import as_object, moment, require

ROLES = {"CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"}
STATUSES = {"CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"}


@transaction.atomic
def put_client_info(*, partner: Partner, country_code: str, party_id: str, body) -> HubClient:
    if not partner.is_hub:
        raise OcpiError("only a hub sends client info", status_code=INVALID_PARAMETERS, http_status=403)
    info = as_object(body, "ClientInfo", country_code=country_code, party_id=party_id)
    require(info, "party_id", "country_code", "role", "status", "last_updated")
    if info["role"] not in ROLES or info["status"] not in STATUSES:
        raise OcpiError("unknown role or status", status_code=INVALID_PARAMETERS)
    client, _ = HubClient.objects.update_or_create(
        hub=partner, country_code=country_code, party_id=party_id,
        defaults={"role": info["role"], "status": info["status"],
                  "last_updated": moment(info["last_updated"], "last_updated")},
    )
    return client


def reachable_parties(hub: Partner) -> list[HubClient]:
    return list(hub.hub_clients.filter(status="CONNECTED"))
