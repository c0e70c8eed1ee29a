"""The provider behind Get15118EVCertificate (issuing our own contracts: ``pki.services.contract_certificates``).

An EV asks for a contract certificate in an EXI-encoded CertificateInstallationReq /
CertificateUpdateReq, which the station passes on in Get15118EVCertificate. Public networks
hand that EXI to a contract-certificate pool. The provider
is chosen by ``PKI_CONTRACT_PROVIDER`` (a dotted path to a class with ``get_ev_certificate``):

- ``LocalContractProvider`` (default) issues contracts from our MO sub-CA 2 for test and
  private networks: it decodes the EV's EXI request, checks it and answers with a signed
  CertificateInstallationRes / CertificateUpdateRes (``pki.services.provisioning``).
- ``HttpContractProvider`` forwards the request as JSON to ``PKI_CONTRACT_PROVIDER_URL``
  and relays the answer: the shape of an external pool's API.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class EvCertificateRequest:
    station_id: str
    iso15118_schema_version: str
    action: str  # Install | Update
    exi_request: str  # base64


@dataclass(frozen=True)
class EvCertificateAnswer:
    status: str  # Accepted | Failed
    exi_response: str = ""
    reason: str = ""
    remaining_contracts: int | None = None  # ISO 15118-20's RemainingContractCertificateChains (for 2.1)

    def as_ocpp(self) -> dict:
        payload = {"status": self.status, "exiResponse": self.exi_response}
        if self.remaining_contracts is not None:
            payload["remainingContracts"] = self.remaining_contracts
        if self.reason:
            payload["statusInfo"] = {"reasonCode": "Provider", "additionalInfo": self.reason[:512]}
        return payload


class ContractCertificateProvider:
    """Interface: answer an EV's certificate installation/update request."""

    def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer:
        raise NotImplementedError


class LocalContractProvider(ContractCertificateProvider):
    """Issues from our MO sub-CA 2 for registered vehicles (``pki.services.provisioning``)."""

    def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer:
        from pki.iso15118.exi import ExiUnavailable
        from pki.services.provisioning import ProvisioningRefused, answer

        try:
            provisioned = answer(action=request.action, schema_version=request.iso15118_schema_version,
                                 exi_request=request.exi_request)
        except (ProvisioningRefused, ExiUnavailable) as error:
            logger.warning("%s: Get15118EVCertificate %s refused: %s", request.station_id, request.action, error)
            return EvCertificateAnswer(status="Failed", reason=str(error))
        return EvCertificateAnswer(status="Accepted", exi_response=provisioned.exi_response,
                                   remaining_contracts=provisioned.remaining_contracts)


class HttpContractProvider(ContractCertificateProvider):
    def get_ev_certificate(self, request: EvCertificateRequest) -> EvCertificateAnswer:
        url = getattr(settings, "PKI_CONTRACT_PROVIDER_URL", "")
        if not url:
            return EvCertificateAnswer(status="Failed", reason="PKI_CONTRACT_PROVIDER_URL is not set")
        body = json.dumps({
            "stationId": request.station_id,
            "iso15118SchemaVersion": request.iso15118_schema_version,
            "action": request.action,
            "exiRequest": request.exi_request,
        }).encode()
        http_request = urllib.request.Request(url, data=body, method="POST",
                                              headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(http_request, timeout=settings.PKI_OCSP_FORWARD_TIMEOUT) as response:  # noqa: S310
                answer = json.loads(response.read(65536))
        except (urllib.error.URLError, OSError, ValueError) as error:
            return EvCertificateAnswer(status="Failed", reason=f"provider unreachable: {error}")
        if answer.get("status") != "Accepted" or not isinstance(answer.get("exiResponse"), str):
            return EvCertificateAnswer(status="Failed", reason=str(answer.get("reason", "provider refused"))[:512])
        return EvCertificateAnswer(status="Accepted", exi_response=answer["exiResponse"])


def provider() -> ContractCertificateProvider:
    return import_string(settings.PKI_CONTRACT_PROVIDER)()


def get_ev_certificate(
    *, station_id: str, iso15118_schema_version: str, action: str, exi_request: str
) -> EvCertificateAnswer:
    request = EvCertificateRequest(
        station_id=station_id, iso15118_schema_version=iso15118_schema_version, action=action, exi_request=exi_request
    )
    try:
        return provider().get_ev_certificate(request)
    except Exception as error:  # a broken provider must not break the station's connection
        return EvCertificateAnswer(status="Failed", reason=f"provider error: {type(error).__name__}: {error}")
