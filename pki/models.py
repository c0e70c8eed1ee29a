"""Certificate authorities, certificates, what stations hold, and what they asked us to sign.

Private keys live only in ``CertificateAuthority.encrypted_private_key``, sealed under the
key-encryption key (``pki/keys.py``); nothing in the admin or the API reads that field.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class CaRole(models.TextChoices):
    V2G_ROOT = "V2GRoot", "V2G root"
    CPO_SUB_CA_1 = "CPOSubCA1", "CPO sub-CA 1"
    CPO_SUB_CA_2 = "CPOSubCA2", "CPO sub-CA 2"
    MO_ROOT = "MORoot", "MO root"
    MO_SUB_CA_1 = "MOSubCA1", "MO sub-CA 1"
    MO_SUB_CA_2 = "MOSubCA2", "MO sub-CA 2"
    CPS_SUB_CA_1 = "CPSSubCA1", "CPS sub-CA 1"
    CPS_SUB_CA_2 = "CPSSubCA2", "CPS sub-CA 2"
    OEM_ROOT = "OEMRoot", "OEM root"
    CSMS_ROOT = "CSMSRoot", "CSMS (TLS) root"
    OTHER = "Other", "Other CA"


class CertificateKind(models.TextChoices):
    CA = "CA", "certificate authority"
    CHARGING_STATION = "ChargingStationCertificate", "charging station (TLS client)"
    V2G = "V2GCertificate", "SECC (V2G)"
    CONTRACT = "Contract", "contract (eMAID)"
    OCSP_SIGNER = "OCSPSigner", "OCSP responder"
    CPS_SIGNER = "CPSSigner", "contract provisioning (CPS) signer"
    TLS_SERVER = "TLSServer", "CSMS TLS server"
    OTHER = "Other", "other"


class RevocationReason(models.TextChoices):
    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"


class Certificate(models.Model):
    """One X.509 certificate, ours or foreign, with what OCPP and OCSP look it up by."""

    kind = models.CharField(max_length=30, choices=CertificateKind.choices)
    pem = models.TextField()
    subject = models.CharField(max_length=500)
    common_name = models.CharField(max_length=200, blank=True, db_index=True)
    issuer = models.CharField(max_length=500)
    serial_number = models.CharField(max_length=40, help_text="hex, lowercase, no leading zeros")
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    sha256_fingerprint = models.CharField(max_length=64, unique=True)
    # RFC 6960 CertID with SHA-256, as OCPP's CertificateHashData carries it (lowercase hex).
    issuer_name_hash = models.CharField(max_length=64)
    issuer_key_hash = models.CharField(max_length=64)
    issuer_ca = models.ForeignKey(
        "CertificateAuthority", on_delete=models.PROTECT, null=True, blank=True, related_name="issued",
        help_text="the CA that signed it, when that CA is known here",
    )
    station = models.ForeignKey(
        "stations.ChargingStation", on_delete=models.SET_NULL, null=True, blank=True, related_name="certificates"
    )
    emaid = models.CharField(max_length=36, blank=True, db_index=True, help_text="contract certificates: the eMAID")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=30, choices=RevocationReason.choices, blank=True)
    renewal_requested_at = models.DateTimeField(null=True, blank=True)
    # AES-256-GCM under the key-encryption key: only for leaves that sign here (the CPS signer).
    encrypted_private_key = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["issuer_name_hash", "issuer_key_hash", "serial_number"], name="certificate_cert_id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["issuer_ca", "serial_number"], name="certificate_serial_unique_per_ca",
                condition=models.Q(issuer_ca__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.common_name or self.subject} ({self.serial_number})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class CertificateAuthority(models.Model):
    """A CA: ours (with its private key, sealed) or imported (a trust anchor without one)."""

    name = models.CharField(max_length=100, unique=True)
    role = models.CharField(max_length=20, choices=CaRole.choices)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="authority")
    # AES-256-GCM under the key-encryption key; empty for CAs imported without their key.
    encrypted_private_key = models.BinaryField(null=True, blank=True, editable=False)
    is_trust_anchor = models.BooleanField(default=False, help_text="a root we trust for chain validation")
    active = models.BooleanField(default=True, help_text="issues new certificates")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "name"]
        verbose_name = "certificate authority"
        verbose_name_plural = "certificate authorities"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"

    @property
    def has_private_key(self) -> bool:
        return bool(self.encrypted_private_key)


class InstalledCertificate(models.Model):
    """A certificate a station reported holding (GetInstalledCertificateIds), by its hash data."""

    station = models.ForeignKey(
        "stations.ChargingStation", on_delete=models.CASCADE, related_name="installed_certificates"
    )
    certificate_type = models.CharField(max_length=40)
    hash_algorithm = models.CharField(max_length=6, default="SHA256")
    issuer_name_hash = models.CharField(max_length=128)
    issuer_key_hash = models.CharField(max_length=128)
    serial_number = models.CharField(max_length=40)
    child_certificates = models.JSONField(default=list, blank=True, help_text="childCertificateHashData")
    certificate = models.ForeignKey(
        Certificate, on_delete=models.SET_NULL, null=True, blank=True, related_name="installations",
        help_text="the known certificate these hash data identify",
    )
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "certificate_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"],
                name="installed_certificate_unique",
            )
        ]


class SigningRequestStatus(models.TextChoices):
    PENDING = "Pending", "waiting for approval"
    SIGNED = "Signed"
    DELIVERED = "Delivered", "accepted by the station"
    DELIVERY_FAILED = "DeliveryFailed", "station did not accept"
    REJECTED = "Rejected"


class SigningRequest(models.Model):
    """A station's certificate signing request (SignCertificate) and what became of it."""

    station = models.ForeignKey("stations.ChargingStation", on_delete=models.CASCADE, related_name="signing_requests")
    certificate_type = models.CharField(max_length=30, help_text="ChargingStationCertificate or V2GCertificate")
    csr_pem = models.TextField()
    common_name = models.CharField(max_length=200, blank=True)
    organization = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=SigningRequestStatus.choices, default=SigningRequestStatus.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    certificate = models.OneToOneField(
        Certificate, on_delete=models.SET_NULL, null=True, blank=True, related_name="signing_request"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="signing_request_by_status")]

    def __str__(self) -> str:
        return f"{self.station} {self.certificate_type} ({self.status})"


class Vehicle(models.Model):
    """A driver's car registered for Plug & Charge. An EV asking for a contract certificate
    (CertificateInstallationReq) names itself by its provisioning certificate ID, the PCID:
    the common name of its OEM provisioning certificate. The built-in contract provider
    issues the contract for the driver registered here, under this vehicle's eMAID. The
    vehicle is one of the driver's ``stations.Car``: its eMAID token charges that car."""

    pcid = models.CharField("PCID", max_length=64, unique=True,
                            help_text="the common name of the car's OEM provisioning certificate")
    driver = models.ForeignKey("stations.Driver", on_delete=models.CASCADE, related_name="vehicles")
    car = models.OneToOneField("stations.Car", on_delete=models.CASCADE, related_name="vehicle",
                               help_text="the driver's car (V2X permission, minimum charge)")
    name = models.CharField(max_length=100, blank=True)
    emaid = models.CharField("eMAID", max_length=36, blank=True, db_index=True,
                             help_text="empty: one is assigned at the first installation")
    active = models.BooleanField(default=True, help_text="inactive: no contract is issued for it")
    last_provisioned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pcid"]

    def __str__(self) -> str:
        return f"{self.name or self.pcid} ({self.driver})"

    def clean(self):
        if self.car_id is not None and self.driver_id is not None and self.car.driver_id != self.driver_id:
            raise ValidationError({"car": "one of the vehicle's driver's cars"})
