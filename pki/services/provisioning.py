"""Contract certificates for EVs over ISO 15118-2: the built-in answer to Get15118EVCertificate.

Installation (CertificateInstallationReq): the EV signs the request with its OEM
provisioning key. We check that signature, the provisioning certificate's chain to an
OEM root imported here, and that the car's PCID (the certificate's CN) is a registered
``Vehicle``; then issue a contract certificate from MO sub-CA 2 for the vehicle's driver
(eMAID kept per vehicle), encrypt its new private key to the provisioning key, and sign
the CertificateInstallationRes as the CPS (V2G root → CPS sub-CA 1 → 2 → signer).

Update (CertificateUpdateReq): the request is signed with the current contract key; that
contract must be ours and not revoked. The new contract keeps the eMAID and the driver; its
key is encrypted to the current contract's key. The old contract stays valid until it
expires (the EV may not have installed the new one).

Everything is one transaction: a failure anywhere leaves no certificate behind.

ISO 15118-20 requests (CommonMessages schema) are answered by ``provisioning_20``.
"""

import base64
import logging

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.utils import timezone

from pki.iso15118 import exi, security
from pki.models import CaRole, Certificate, CertificateKind, Vehicle
from pki.services import provisioning_20
from pki.services.ca import chain_of, issuing_ca
from pki.services.certificates import common_name, fingerprint
from pki.services.contract_certificates import issue_contract_certificate
from pki.services.provisioning_base import (
    Provisioned,
    ProvisioningRefused,
    check_not_cancelled,
    check_trusted_root,
    cps_signer,
    der_b64,
    load_certificate,
    new_emaid,
)
from pki.services.validation import ChainInvalid, verify_chain
from pki.services.vehicles import contract_charges_car
from stations.models import IdToken, IdTokenStatus

__all__ = ["ISO15118_2", "ISO15118_20", "Provisioned", "ProvisioningRefused", "answer", "cps_signer"]

logger = logging.getLogger(__name__)

ISO15118_2 = exi.MSG_DEF
ISO15118_20 = exi.COMMON_MESSAGES


def answer(*, action: str, schema_version: str, exi_request: str) -> Provisioned:
    if schema_version not in (ISO15118_2, ISO15118_20):
        raise ProvisioningRefused(f"schema {schema_version!r} is not supported: only ISO 15118-2 ({ISO15118_2}) "
                                  f"and ISO 15118-20 ({ISO15118_20})")
    try:
        raw = base64.b64decode(exi_request, validate=True)
    except ValueError:
        raise ProvisioningRefused("exiRequest is not base64") from None
    if schema_version == ISO15118_20:
        return provisioning_20.answer(action=action, raw=raw)
    try:
        message = exi.decode(raw)
    except exi.ExiError as error:
        raise ProvisioningRefused(f"exiRequest is not an ISO 15118-2 message: {error}") from None
    v2g = message.get("V2G_Message") or {}
    header, body = v2g.get("Header") or {}, v2g.get("Body") or {}
    expected = {"Install": "CertificateInstallationReq", "Update": "CertificateUpdateReq"}.get(action)
    if expected is None or not isinstance(body.get(expected), dict):
        raise ProvisioningRefused(f"exiRequest holds no ISO 15118-2 {expected or 'request'} for action {action}")
    return (_install if action == "Install" else _update)(header, body[expected])


def _check_signature(header: dict, name: str, element: dict, signer: x509.Certificate) -> None:
    try:
        security.verify(header.get("Signature"), {name: element}, signer.public_key())
    except security.SignatureInvalid as error:
        raise ProvisioningRefused(f"{name}: {error}") from None


@transaction.atomic
def _install(header: dict, request: dict) -> Provisioned:
    oem = load_certificate(request.get("OEMProvisioningCert", ""), "OEM provisioning certificate")
    _check_signature(header, "CertificateInstallationReq", request, oem)
    try:
        verify_chain(oem, [], roles=[CaRole.OEM_ROOT])
    except ChainInvalid as error:
        raise ProvisioningRefused(f"OEM provisioning certificate: {error}") from None
    check_trusted_root(request)
    pcid = common_name(oem.subject)
    vehicle = Vehicle.objects.select_for_update().select_related("driver").filter(pcid=pcid, active=True).first()
    if vehicle is None:
        raise ProvisioningRefused(f"vehicle {pcid} is not registered for Plug & Charge")
    emaid = vehicle.emaid or new_emaid()
    check_not_cancelled(emaid)
    contract_key = ec.generate_private_key(ec.SECP256R1())
    record = issue_contract_certificate(emaid=emaid, public_key=contract_key.public_key(),
                                        driver_email=vehicle.driver.email)
    vehicle.emaid, vehicle.last_provisioned_at = emaid, timezone.now()
    vehicle.save(update_fields=["emaid", "last_provisioned_at"])
    contract_charges_car(vehicle=vehicle)
    response = _response("CertificateInstallationRes", header, record, contract_key, oem.public_key())
    logger.info("contract %s issued to vehicle %s (driver %s)", emaid, pcid, vehicle.driver_id)
    return Provisioned(exi_response=response, emaid=emaid, certificate_pk=record.pk)


@transaction.atomic
def _update(header: dict, request: dict) -> Provisioned:
    chain = request.get("ContractSignatureCertChain") or {}
    current = load_certificate(chain.get("Certificate", ""), "contract certificate")
    _check_signature(header, "CertificateUpdateReq", request, current)
    check_trusted_root(request)
    record = Certificate.objects.filter(sha256_fingerprint=fingerprint(current), kind=CertificateKind.CONTRACT).first()
    if record is None:
        raise ProvisioningRefused("the contract certificate was not issued here")
    if record.is_revoked:
        raise ProvisioningRefused("the contract certificate is revoked")
    emaid = request.get("eMAID")
    emaid = emaid.get("value") if isinstance(emaid, dict) else emaid
    if emaid != record.emaid:
        raise ProvisioningRefused("the eMAID does not match the contract certificate")
    token = IdToken.objects.select_related("driver").filter(value=emaid).first()
    if token is None or token.driver is None:
        raise ProvisioningRefused(f"no driver holds {emaid}")
    if token.status != IdTokenStatus.ACCEPTED:
        raise ProvisioningRefused(f"contract {emaid} is {token.status.lower()}")
    contract_key = ec.generate_private_key(ec.SECP256R1())
    new = issue_contract_certificate(emaid=emaid, public_key=contract_key.public_key(), driver_email=token.driver.email)
    Vehicle.objects.filter(emaid=emaid).update(last_provisioned_at=timezone.now())
    response = _response("CertificateUpdateRes", header, new, contract_key, current.public_key())
    logger.info("contract %s renewed", emaid)
    return Provisioned(exi_response=response, emaid=emaid, certificate_pk=new.pk)


def _chain(leaf: x509.Certificate, intermediates: list[x509.Certificate], element_id: str | None = None) -> dict:
    chain = {"Id": element_id} if element_id else {}
    chain["Certificate"] = der_b64(leaf)
    if intermediates:
        chain["SubCertificates"] = {"Certificate": [der_b64(c) for c in intermediates]}
    return chain


def _response(name: str, request_header: dict, contract: Certificate, contract_key, recipient) -> str:
    signer_key, signer_cert, signer_chain = cps_signer()
    contract_cert = x509.load_pem_x509_certificate(contract.pem.encode())
    try:
        dh_public, encrypted = security.encrypt_private_key(contract_key, recipient)
    except ValueError as error:
        raise ProvisioningRefused(str(error)) from None
    signed = {
        "ContractSignatureCertChain": _chain(contract_cert, chain_of(issuing_ca(CaRole.MO_SUB_CA_2)), "id1"),
        "ContractSignatureEncryptedPrivateKey": {"Id": "id2", "value": security.b64(encrypted)},
        "DHpublickey": {"Id": "id3", "value": security.b64(dh_public)},
        "eMAID": {"Id": "id4", "value": contract.emaid},
    }
    body = {"ResponseCode": "OK", "SAProvisioningCertificateChain": _chain(signer_cert, signer_chain), **signed}
    header = {"SessionID": request_header.get("SessionID") or "00", "Signature": security.sign(signed, signer_key)}
    return security.b64(exi.encode({"V2G_Message": {"Header": header, "Body": {name: body}}}))

