"""Contract certificates for EVs over ISO 15118-20: CertificateInstallationReq in the
CommonMessages schema, answered by the built-in provider.

The request carries the OEM provisioning chain (leaf and OEM sub-CAs) under an ``Id``; the
EV signs that element with its provisioning key. We check the chain to an OEM root imported
here first, then the signature (7.9.2.5, NOTE 3), that the EV trusts our V2G root, and that
it has room for a contract (``MaximumContractCertificateChains`` ≥ 1). The contract is for
the registered ``Vehicle`` (PCID = the certificate's CN): the first of the EV's
``PrioritizedEMAIDs`` that is the vehicle's or its driver's eMAID, else the vehicle's eMAID
or a new one. Its key is on the provisioning certificate's curve (the SA uses the EV's curve: secp521r1),
encrypted for the EV (``security_20``); the CPS signs ``SignedInstallationData`` with a
secp521r1 signer from our CPS sub-CA 2. We deliver one chain per request, so
``RemainingContractCertificateChains`` is 0.

-20 has no CertificateUpdateReq (a car installs again), and Ed448 provisioning certificates
would need the X448 key encryption, which is not implemented: both are refused with a reason.
"""

import logging
import time

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from django.db import transaction
from django.utils import timezone

from pki.iso15118 import exi, security, security_20
from pki.models import CaRole, Vehicle
from pki.services.ca import chain_of, issuing_ca
from pki.services.certificates import common_name
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
from stations.models import IdToken, IdTokenStatus, IdTokenType

logger = logging.getLogger(__name__)

REQUEST = "CertificateInstallationReq"
RESPONSE = "CertificateInstallationRes"
OEM_CHAIN = "OEMProvisioningCertificateChain"
SIGNED_DATA = "SignedInstallationData"


def answer(*, action: str, raw: bytes) -> Provisioned:
    if action != "Install":
        raise ProvisioningRefused(f"ISO 15118-20 has no request for action {action}: only Install "
                                  "(CertificateInstallationReq)")
    try:
        message = exi.decode(raw, exi.COMMON_MESSAGES)
    except exi.ExiError as error:
        raise ProvisioningRefused(f"exiRequest is not an ISO 15118-20 message: {error}") from None
    request = message.get(REQUEST) if isinstance(message, dict) else None
    if not isinstance(request, dict):
        found = next(iter(message), "nothing") if isinstance(message, dict) else "nothing"
        raise ProvisioningRefused(f"exiRequest holds no ISO 15118-20 {REQUEST} (found {found})")
    return _install(request)


def _oem_chain(request: dict) -> tuple[dict, x509.Certificate, list[x509.Certificate]]:
    element = request.get(OEM_CHAIN)
    if not isinstance(element, dict) or not element.get("Id"):
        raise ProvisioningRefused(f"the request has no {OEM_CHAIN} with an Id")
    leaf = load_certificate(element.get("Certificate", ""), "OEM provisioning certificate")
    subs = [load_certificate(c, "OEM sub-CA certificate")
            for c in (element.get("SubCertificates") or {}).get("Certificate") or []]
    return element, leaf, subs


def _maximum_chains(request: dict) -> int:
    try:
        maximum = int(request.get("MaximumContractCertificateChains"))
    except (TypeError, ValueError):
        raise ProvisioningRefused("MaximumContractCertificateChains is missing") from None
    if maximum < 1:
        raise ProvisioningRefused("MaximumContractCertificateChains is 0: the EV has no room for a contract")
    return maximum


def _prioritized(request: dict) -> list[str]:
    emaids = (request.get("PrioritizedEMAIDs") or {}).get("EMAID") or []
    return [e for e in (emaids if isinstance(emaids, list) else [emaids]) if isinstance(e, str)]


@transaction.atomic
def _install(request: dict) -> Provisioned:
    element, oem, subs = _oem_chain(request)
    public_key = oem.public_key()
    if isinstance(public_key, ed448.Ed448PublicKey):
        raise ProvisioningRefused("Ed448 OEM provisioning certificate: the X448 contract key encryption of "
                                  "ISO 15118-20 is not supported here (secp521r1 is)")
    if not security_20.is_p521(public_key):
        raise ProvisioningRefused("the OEM provisioning certificate's key is not secp521r1 or Ed448, "
                                  "as ISO 15118-20 requires")
    try:
        verify_chain(oem, subs, roles=[CaRole.OEM_ROOT])
    except ChainInvalid as error:
        raise ProvisioningRefused(f"OEM provisioning certificate: {error}") from None
    header = request.get("Header") or {}
    try:
        security_20.verify(header.get("Signature"), {OEM_CHAIN: element}, public_key)
    except security.SignatureInvalid as error:
        raise ProvisioningRefused(f"{REQUEST}: {error}") from None
    check_trusted_root(request)
    _maximum_chains(request)
    pcid = common_name(oem.subject)
    vehicle = Vehicle.objects.select_for_update().select_related("driver").filter(pcid=pcid, active=True).first()
    if vehicle is None:
        raise ProvisioningRefused(f"vehicle {pcid} is not registered for Plug & Charge")
    emaid = _choose_emaid(vehicle, _prioritized(request))
    check_not_cancelled(emaid)
    contract_key = ec.generate_private_key(ec.SECP521R1())
    record = issue_contract_certificate(emaid=emaid, public_key=contract_key.public_key(),
                                        driver_email=vehicle.driver.email)
    if not vehicle.emaid:
        vehicle.emaid = emaid
    vehicle.last_provisioned_at = timezone.now()
    vehicle.save(update_fields=["emaid", "last_provisioned_at"])
    contract_charges_car(vehicle=vehicle, emaid=emaid)
    response = _response(header, x509.load_pem_x509_certificate(record.pem.encode()), contract_key, public_key, pcid)
    logger.info("ISO 15118-20 contract %s issued to vehicle %s (driver %s)", emaid, pcid, vehicle.driver_id)
    return Provisioned(exi_response=response, emaid=emaid, certificate_pk=record.pk, remaining_contracts=0)


def _choose_emaid(vehicle: Vehicle, prioritized: list[str]) -> str:
    """The first eMAID the EV asks for that the vehicle or its driver holds; else the vehicle's
    own, or a new one. An eMAID of another driver is never handed out."""
    held = set(IdToken.objects.filter(driver=vehicle.driver, type=IdTokenType.EMAID, value__in=prioritized,
                                      status=IdTokenStatus.ACCEPTED).values_list("value", flat=True))
    if vehicle.emaid:
        held.add(vehicle.emaid)
    return next((e for e in prioritized if e in held), None) or vehicle.emaid or new_emaid()


def _response(request_header: dict, contract: x509.Certificate, contract_key, recipient, pcid: str) -> str:
    signer_key, signer_cert, signer_chain = cps_signer(ec.SECP521R1())
    ski = contract.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    try:
        dh_public, encrypted = security_20.encrypt_private_key(
            contract_key, recipient, security_20.additional_data(pcid=pcid, subject_key_identifier=ski))
    except security_20.KeyNotSupported as error:
        raise ProvisioningRefused(str(error)) from None
    signed = {
        "Id": "id1",
        "ContractCertificateChain": {
            "Certificate": der_b64(contract),
            "SubCertificates": {"Certificate": [der_b64(c) for c in chain_of(issuing_ca(CaRole.MO_SUB_CA_2))]},
        },
        "ECDHCurve": "SECP521",
        "DHPublicKey": security.b64(dh_public),
        "SECP521_EncryptedPrivateKey": security.b64(encrypted),
    }
    cps_chain = {"Certificate": der_b64(signer_cert)}
    if signer_chain:
        cps_chain["SubCertificates"] = {"Certificate": [der_b64(c) for c in signer_chain]}
    header = {"SessionID": request_header.get("SessionID") or "0000000000000000", "TimeStamp": int(time.time()),
              "Signature": security_20.sign({SIGNED_DATA: signed}, signer_key)}
    body = {"Header": header, "ResponseCode": "OK", "EVSEProcessing": "Finished", "CPSCertificateChain": cps_chain,
            SIGNED_DATA: signed, "RemainingContractCertificateChains": 0}
    return security.b64(exi.encode({RESPONSE: body}, exi.COMMON_MESSAGES))
