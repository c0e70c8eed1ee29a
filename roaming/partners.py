"""Who we roam with, as the OCPP path asks it: the registered partners, cached per process.

Low in the app (it imports only models), so that pushes, tokens and commands can all ask it
without importing each other."""

import time

from roaming.models import Partner, PartnerStatus

PARTNERS_CACHE_S = 10.0
_partners: tuple[float, list[Partner]] = (float("-inf"), [])


def registered_partners() -> list[Partner]:
    """The registered partners, read at most every PARTNERS_CACHE_S per process: status
    changes and session events (the OCPP path) ask for them all the time. Saving a partner
    here refreshes it at once; another process sees it within PARTNERS_CACHE_S."""
    global _partners
    now = time.monotonic()
    if now - _partners[0] > PARTNERS_CACHE_S:
        _partners = (now, list(Partner.objects.filter(status=PartnerStatus.REGISTERED)))
    return _partners[1]


def forget_partners(**kwargs) -> None:
    global _partners
    _partners = (float("-inf"), [])


def receivers_of(module: str) -> list[Partner]:
    """Registered partners that take pushes of ``module``."""
    return [p for p in registered_partners()
            if p.endpoint(module, "RECEIVER") or p.endpoint(module) and p.is_hub]


def senders_of(module: str) -> list[Partner]:
    """Registered partners that offer ``module`` for us to pull (their SENDER endpoint)."""
    return [p for p in registered_partners() if p.endpoint(module, "SENDER")]
