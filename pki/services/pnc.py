"""Plug & Charge, version-neutral: certificate status for stations, contract authorisation.

OCPP 2.0.1 handlers call these directly; OCPP 1.6 reaches them through DataTransfer
(``org.openchargealliance.iso15118pnc``) with the same payloads.
"""

import base64
import logging
from dataclasses import dataclass

from cryptography import x509
from django.conf import settings

from pki.models import CaRole, Certificate, CertificateKind
from pki.services import ocsp
from pki.services.certificates import CertificateError, HashData, common_name, find_by_hash_data, load_pem_chain
from pki.services.validation import ChainInvalid, verify_chain
from stations.models import IdTokenStatus, IdTokenType
from stations.services.authorization import Authorization, authorize

logger = logging.getLogger(__name__)

# Contracts chain to a V2G or MO root (ours or imported), never to the CSMS (TLS) root.
CONTRACT_TRUST_ROLES = [CaRole.V2G_ROOT, CaRole.MO_ROOT, CaRole.OTHER]


@dataclass(frozen=True)
class CertificateStatusAnswer:
    status: str  # Accepted | Failed
    ocsp_result: str | None = None  # base64 DER OCSPResponse
    reason: str = ""

    def as_ocpp(self) -> dict:
        payload = {"status": self.status}
        if self.ocsp_result:
            payload["ocspResult"] = self.ocsp_result
        if self.reason:
            payload["statusInfo"] = {"reasonCode": "OCSPFailed" if self.status == "Failed" else "Info",
                                     "additionalInfo": self.reason[:512]}
        return payload


def get_certificate_status(*, ocsp_request_data: dict) -> CertificateStatusAnswer:
    """GetCertificateStatus: our own answer for our certificates, else the named responder's."""
    try:
        data = HashData.from_ocpp(ocsp_request_data)
    except CertificateError as error:
        return CertificateStatusAnswer(status="Failed", reason=str(error))
    ours = ocsp.response_for_hash_data(data)
    if ours is not None:
        return CertificateStatusAnswer(status="Accepted", ocsp_result=base64.b64encode(ours).decode())
    url = ocsp_request_data.get("responderURL") or ocsp_request_data.get("responder_url") or ""
    try:
        response = ocsp.fetch(
            url=url, request_der=ocsp.request_for_hash_data(data), timeout=settings.PKI_OCSP_FORWARD_TIMEOUT
        )
    except ocsp.OcspUnavailable as error:
        logger.info("OCSP forward failed: %s", error)
        return CertificateStatusAnswer(status="Failed", reason=str(error))
    if len(response) > 4000:  # base64 of it must fit ocspResult's 5500 characters
        return CertificateStatusAnswer(status="Failed", reason="the responder's answer is too large for OCPP")
    return CertificateStatusAnswer(status="Accepted", ocsp_result=base64.b64encode(response).decode())


@dataclass(frozen=True)
class ContractAuthorization:
    authorization: Authorization
    certificate_status: str | None  # AuthorizeCertificateStatusEnumType, None without certificate data
    reason: str = ""


_REFUSED_STATUS = {"CertificateExpired": IdTokenStatus.EXPIRED}


def _refused(code: str, reason: str) -> ContractAuthorization:
    logger.info("contract refused: %s (%s)", code, reason)
    return ContractAuthorization(
        authorization=Authorization(status=_REFUSED_STATUS.get(code, IdTokenStatus.INVALID)),
        certificate_status=code,
        reason=reason,
    )


def authorize_id_token(
    *, id_token: str, id_token_type: str | None, certificate: str | None = None,
    iso15118_certificate_hash_data: list[dict] | None = None,
) -> ContractAuthorization:
    """Authorize, with Plug & Charge: a contract certificate (chain) or its hash data.

    With a certificate: the chain must lead to one of our trust anchors, no certificate in
    it may be revoked (ours: our records; foreign: their OCSP responder), and the leaf's CN
    must be the eMAID presented. With hash data only (the station checked the chain), each
    certificate's revocation status is checked the same way. Then the eMAID is an id token
    like any other: its driver gets the session.
    """
    if certificate:
        refused = _check_certificate(id_token=id_token, chain_pem=certificate)
    elif iso15118_certificate_hash_data:
        refused = _check_hash_data(id_token=id_token, entries=iso15118_certificate_hash_data)
    else:
        return ContractAuthorization(authorization=authorize(value=id_token, type=id_token_type),
                                     certificate_status=None)
    if refused is not None:
        return refused
    auth = authorize(value=id_token, type=id_token_type or IdTokenType.EMAID)
    if auth.status in (IdTokenStatus.BLOCKED, IdTokenStatus.EXPIRED):
        return ContractAuthorization(authorization=auth, certificate_status="ContractCancelled")
    return ContractAuthorization(authorization=auth, certificate_status="Accepted")


def _check_certificate(*, id_token: str, chain_pem: str) -> ContractAuthorization | None:
    try:
        certs = load_pem_chain(chain_pem)
    except CertificateError as error:
        return _refused("CertChainError", str(error))
    leaf = certs[0]
    try:
        verified = verify_chain(leaf, certs[1:], roles=CONTRACT_TRUST_ROLES)
    except ChainInvalid as error:
        return _refused(error.code, str(error))
    if common_name(leaf.subject) != id_token:
        return _refused("CertChainError", f"contract CN {common_name(leaf.subject)!r} is not the eMAID {id_token!r}")
    for cert, issuer in zip(verified, verified[1:], strict=False):
        refused = _revocation(cert, issuer)
        if refused is not None:
            return refused
    return None


def _revocation(cert: x509.Certificate, issuer: x509.Certificate) -> ContractAuthorization | None:
    try:
        status = ocsp.certificate_status(cert, issuer, timeout=settings.PKI_OCSP_FORWARD_TIMEOUT)
    except ocsp.OcspUnavailable as error:
        return _refused("CertChainError", f"revocation status unknown: {error}")
    if status == "revoked":
        return _refused("CertificateRevoked", f"{cert.subject.rfc4514_string()} is revoked")
    if status != "good":
        return _refused("CertChainError", f"{cert.subject.rfc4514_string()}: OCSP status {status}")
    return None


def _check_hash_data(*, id_token: str, entries: list[dict]) -> ContractAuthorization | None:
    for index, entry in enumerate(entries):
        try:
            data = HashData.from_ocpp(entry)
        except CertificateError as error:
            return _refused("CertChainError", str(error))
        known: Certificate | None = find_by_hash_data(data)
        if known is not None and known.issuer_ca is not None and known.issuer_ca.has_private_key:
            if known.revoked_at is not None:
                return _refused("CertificateRevoked", f"{known.subject} is revoked")
            if index == 0 and known.kind == CertificateKind.CONTRACT and known.common_name != id_token:
                return _refused("CertChainError", f"contract CN {known.common_name!r} is not the eMAID {id_token!r}")
            continue
        url = entry.get("responderURL") or entry.get("responder_url") or ""
        try:
            response = ocsp.fetch(url=url, request_der=ocsp.request_for_hash_data(data),
                                  timeout=settings.PKI_OCSP_FORWARD_TIMEOUT)
            status = ocsp.parse_status(response, serial_number=int(data.serial_number, 16))
        except ocsp.OcspUnavailable as error:
            return _refused("CertChainError", f"revocation status unknown: {error}")
        if status == "revoked":
            return _refused("CertificateRevoked", f"certificate {data.serial_number} is revoked")
        if status != "good":
            return _refused("CertChainError", f"certificate {data.serial_number}: OCSP status {status}")
    return None
