"""Revoking certificates: what the OCSP responder and the CRLs then report."""

from django.db import transaction
from django.utils import timezone

from pki.models import Certificate, RevocationReason


class RevocationError(ValueError):
    pass


@transaction.atomic
def revoke_certificate(*, certificate_pk: int, reason: str = RevocationReason.UNSPECIFIED) -> Certificate:
    if reason not in RevocationReason.values:
        raise RevocationError(f"unknown revocation reason {reason!r}")
    certificate = Certificate.objects.select_for_update().get(pk=certificate_pk)
    if certificate.issuer_ca_id is None or not certificate.issuer_ca.has_private_key:
        raise RevocationError("only certificates issued by one of our CAs can be revoked here")
    if certificate.revoked_at is None:
        certificate.revoked_at = timezone.now()
        certificate.revocation_reason = reason
        certificate.save(update_fields=["revoked_at", "revocation_reason"])
    return certificate
