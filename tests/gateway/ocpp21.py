"""Helpers for OCPP 2.1 protocol tests: every CALLRESULT ChargeNet sends is checked against
the 2.1 schema of the ``ocpp`` package."""

from ocpp.messages import CallResult, _validate_payload


def valid_21_answer(action: str, payload: dict) -> dict:
    _validate_payload(CallResult("check", payload, action=action), "2.1")  # raises on a mismatch
    return payload


async def result21(client, action: str, payload: dict) -> dict:
    """Send a CALL that must succeed; return its CALLRESULT payload, valid by the 2.1 schema."""
    return valid_21_answer(action, await client.result(action, payload))
