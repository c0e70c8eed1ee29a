"""Renewing station certificates before they expire: ask the station for a new CSR.

A certificate is due when it expires within ``PKI_RENEWAL_WINDOW_DAYS``, is not revoked,
no newer certificate of the same kind was issued to the station since, and we have not
asked in the last day. The station answers the TriggerMessage with a SignCertificate,
which takes the ordinary signing path.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from pki.models import Certificate, CertificateKind

RENEWABLE_KINDS = (CertificateKind.CHARGING_STATION, CertificateKind.V2G)
ASK_AGAIN_AFTER = timedelta(days=1)


def expiring_certificates(*, window_days: int | None = None) -> QuerySet[Certificate]:
    now = timezone.now()
    window = timedelta(days=settings.PKI_RENEWAL_WINDOW_DAYS if window_days is None else window_days)
    newer = Certificate.objects.filter(
        station=OuterRef("station"), kind=OuterRef("kind"), not_after__gt=OuterRef("not_after"),
        revoked_at__isnull=True,
    )
    return (
        Certificate.objects.filter(
            kind__in=RENEWABLE_KINDS, station__isnull=False, revoked_at__isnull=True, not_after__lte=now + window
        )
        .exclude(Exists(newer))
        .select_related("station")
        .order_by("not_after")
    )


@dataclass
class RenewalReport:
    asked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def request_renewals(*, window_days: int | None = None) -> RenewalReport:
    from stations.commands.service import send_command

    report = RenewalReport()
    recently = timezone.now() - ASK_AGAIN_AFTER
    due = expiring_certificates(window_days=window_days).exclude(renewal_requested_at__gt=recently)
    for certificate in due:
        key = f"{certificate.station.station_id}/{certificate.kind}"
        result = send_command(
            station_id=certificate.station.station_id,
            command="trigger_certificate_signing",
            params={"certificate_type": certificate.kind},
            source="pki-renewal",
        )
        if result.outcome == "accepted":
            Certificate.objects.filter(pk=certificate.pk).update(renewal_requested_at=timezone.now())
            report.asked.append(key)
        else:
            report.failed[key] = result.outcome
    return report
