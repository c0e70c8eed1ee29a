"""ChargeNet as eMSP, pulling: a CPO partner's locations and tariffs, every page, stored as if
pushed. Right after registration (both directions of the handshake) and hourly (beat), so a
lost push heals. One bad object is logged and skipped, never the whole pull; a partner that
is down fails its own pull only."""

import logging

from roaming import client
from roaming.envelope import OcpiError
from roaming.models import Partner, PartnerStatus
from roaming.partner_data import put_location, put_tariff
from roaming.partners import senders_of

log = logging.getLogger(__name__)


def pull_partner(*, partner_pk: int) -> dict:
    partner = Partner.objects.get(pk=partner_pk)
    counts = {"locations": 0, "tariffs": 0, "refused": 0}
    if partner.status != PartnerStatus.REGISTERED:
        return counts
    for module, store, key in (("locations", put_location, "location_id"), ("tariffs", put_tariff, "tariff_id")):
        url = partner.endpoint(module, "SENDER")
        if not url:
            continue
        try:
            for item in client.pages(partner, url):
                try:
                    if not isinstance(item, dict):
                        raise OcpiError(f"a {module} item is not an object")
                    store(partner=partner, country_code=str(item.get("country_code", "")),
                          party_id=str(item.get("party_id", "")), body=item, **{key: str(item.get("id", ""))})
                    counts[module] += 1
                except OcpiError as error:
                    counts["refused"] += 1
                    log.warning("pull of %s from %s: skipped %s: %s", module, partner,
                                item.get("id") if isinstance(item, dict) else item, error)
        except client.PartnerError as error:
            log.warning("pull of %s from %s failed: %s", module, partner, error)
    return counts


def pull_all() -> int:
    partners = senders_of("locations")
    for partner in partners:
        try:
            pull_partner(partner_pk=partner.pk)
        except Exception:
            log.exception("pull from %s failed", partner)
    return len(partners)
