"""What the OCPP handlers of both versions call for certificates and Plug & Charge.

Payloads here are OCPP 2.0.1's, camelCase, as the 1.6 PnC DataTransfer carries them
(``org.openchargealliance.iso15118pnc``: messageId = the 2.0.1 action, data = its payload
as a JSON string). Services run off the event loop; signed certificates are delivered from
a task started after the station has its answer (never awaited inside a handler).
"""

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, _validate_payload

from pki.services import contracts, pnc, signing

logger = logging.getLogger(__name__)

PNC_VENDOR_ID = "org.openchargealliance.iso15118pnc"
PNC_STATION_ACTIONS = ("Authorize", "GetCertificateStatus", "Get15118EVCertificate", "SignCertificate")
_delivery_tasks: set[asyncio.Task] = set()


def off_loop(func):
    """Run a PKI service in a worker thread: some wait on foreign OCSP responders or
    providers, so they must not hold the OCPP layer's small database pool."""

    def run(**kwargs):
        close_old_connections()
        try:
            return func(**kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)


def status_info(reason: str, code: str = "Rejected") -> dict:
    return {"reasonCode": code[:20], "additionalInfo": reason[:512]}


async def sign_certificate(*, station_pk: int, csr: str, certificate_type: str | None) -> tuple[dict, int | None]:
    """(SignCertificate answer, signing request to deliver after answering, or None)."""
    outcome = await off_loop(signing.receive_signing_request)(
        station_pk=station_pk, csr_pem=csr, certificate_type=certificate_type
    )
    answer = {"status": "Accepted" if outcome.accepted else "Rejected"}
    if not outcome.accepted:
        answer["statusInfo"] = status_info(outcome.reason, "InvalidCSR")
    return answer, (outcome.request_pk if outcome.deliver else None)


def deliver_later(request_pk: int) -> None:
    """CertificateSigned from its own task (the handler has answered by then)."""

    async def deliver():
        try:
            outcome = await signing.deliver_signed_certificate(request_pk=request_pk)
            logger.info("signing request %s delivered: %s", request_pk, outcome)
        except Exception:
            logger.exception("delivering signing request %s failed", request_pk)

    task = asyncio.get_running_loop().create_task(deliver())
    _delivery_tasks.add(task)
    task.add_done_callback(_delivery_tasks.discard)


async def get_certificate_status(*, ocsp_request_data: dict) -> dict:
    answer = await off_loop(pnc.get_certificate_status)(ocsp_request_data=ocsp_request_data)
    return answer.as_ocpp()


async def authorize(
    *, id_token: dict, certificate: str | None, iso15118_certificate_hash_data: list | None
) -> pnc.ContractAuthorization:
    return await off_loop(pnc.authorize_id_token)(
        id_token=id_token["idToken"],
        id_token_type=id_token.get("type"),
        certificate=certificate,
        iso15118_certificate_hash_data=iso15118_certificate_hash_data,
    )


async def get_15118_ev_certificate(*, station_id: str, payload: dict) -> dict:
    answer = await off_loop(contracts.get_ev_certificate)(
        station_id=station_id,
        iso15118_schema_version=payload["iso15118SchemaVersion"],
        action=payload["action"],
        exi_request=payload["exiRequest"],
    )
    return answer.as_ocpp()


def authorize_answer(result: pnc.ContractAuthorization, id_token_info: dict) -> dict:
    """2.0.1 AuthorizeResponse (camelCase) for the 1.6 PnC DataTransfer."""
    answer = {"idTokenInfo": id_token_info}
    if result.certificate_status:
        answer["certificateStatus"] = result.certificate_status
    return answer


class PncRefused(Exception):
    """The DataTransfer's data is not a valid 2.0.1 payload for its messageId."""


def parse_pnc_request(message_id: str | None, data) -> dict:
    if message_id not in PNC_STATION_ACTIONS:
        raise PncRefused(f"unknown PnC messageId {message_id!r}")
    try:
        payload = json.loads(data) if isinstance(data, str) else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise PncRefused("data must be the 2.0.1 payload as a JSON string")
    try:
        _validate_payload(Call("pnc", message_id, payload), "2.0.1")
    except OCPPError as error:
        cause = error.details.get("cause") if isinstance(error.details, dict) else ""
        raise PncRefused(f"{message_id}: {cause or error.description}") from None
    return payload


def pnc_response_data(message_id: str, answer: dict) -> str:
    """The 2.0.1 answer as the JSON string 1.6 DataTransfer carries, checked against the schema."""
    _validate_payload(CallResult("pnc", answer, action=message_id), "2.0.1")
    return json.dumps(answer)
