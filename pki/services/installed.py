"""What certificates each station holds, kept from its GetInstalledCertificateIds answers."""

from django.db import transaction
from django.utils import timezone

from pki.models import InstalledCertificate
from pki.services.certificates import CertificateError, HashData, find_by_hash_data

V16_TYPES = {"CentralSystemRootCertificate": "CSMSRootCertificate"}
ALL_TYPES = ["V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "V2GCertificateChain",
             "ManufacturerRootCertificate"]


@transaction.atomic
def apply_certificate_answer(*, station, command: str, params: dict, response: dict, accepted: bool, **_) -> None:
    """Receiver of ``stations.signals.command_answered``: what a station says it holds."""
    if command == "get_installed_certificate_ids":
        _sync(station=station, params=params, response=response)
    elif command == "delete_certificate" and accepted:
        InstalledCertificate.objects.filter(
            station=station,
            hash_algorithm=params["hash_algorithm"],
            issuer_name_hash__iexact=params["issuer_name_hash"],
            issuer_key_hash__iexact=params["issuer_key_hash"],
            serial_number__iexact=params["serial_number"].lstrip("0") or "0",
        ).delete()


def _sync(*, station, params: dict, response: dict) -> None:
    """The answer replaces what we knew of the asked types (NotFound: the station holds none)."""
    asked = params.get("certificate_types") or []
    if "certificateHashDataChain" in response or "certificateHashData" not in response:
        entries = [
            (e.get("certificateType", ""), e.get("certificateHashData") or {}, e.get("childCertificateHashData") or [])
            for e in response.get("certificateHashDataChain") or []
        ]
        replaced = asked or ALL_TYPES
    else:  # 1.6: a flat list of the one type asked
        wanted = asked[0] if asked else "CSMSRootCertificate"
        entries = [(wanted, e, []) for e in response.get("certificateHashData") or []]
        replaced = [wanted]
    InstalledCertificate.objects.filter(station=station, certificate_type__in=replaced).delete()
    now = timezone.now()
    for certificate_type, raw, children in entries:
        try:
            data = HashData.from_ocpp(raw)
        except CertificateError:
            continue
        InstalledCertificate.objects.update_or_create(
            station=station,
            hash_algorithm=data.hash_algorithm,
            issuer_name_hash=data.issuer_name_hash,
            issuer_key_hash=data.issuer_key_hash,
            serial_number=data.serial_number,
            defaults={
                "certificate_type": V16_TYPES.get(certificate_type, certificate_type),
                "child_certificates": children,
                "certificate": find_by_hash_data(data),
                "reported_at": now,
            },
        )
