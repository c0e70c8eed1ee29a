"""What stations report besides charging: device model, events, firmware and log status."""

from datetime import datetime

from django.db import transaction

from stations.models import DeviceModelVariable, StationEvent


@transaction.atomic
def store_device_model(*, station_pk: int, report_data: list[dict], generated_at: datetime) -> int:
    """Upsert the variables of a 2.0.1 NotifyReport part (raw camelCase payload items).

    Each (component, variable, attribute type) is one row; a later report overwrites it.
    Returns the number of attribute rows written.
    """
    written = 0
    for item in report_data:
        characteristics = item.get("variableCharacteristics") or {}
        for attribute in item.get("variableAttribute", []):
            upsert_variable(
                station_pk=station_pk,
                component=item.get("component", {}),
                variable=item.get("variable", {}),
                attribute_type=attribute.get("type", "Actual"),
                values={
                    "value": str(attribute.get("value", ""))[:2500],
                    "mutability": attribute.get("mutability", ""),
                    "persistent": attribute.get("persistent"),
                    "constant": attribute.get("constant"),
                    "characteristics": characteristics,
                    "reported_at": generated_at,
                },
            )
            written += 1
    return written


def upsert_variable(*, station_pk: int, component: dict, variable: dict, attribute_type: str, values: dict) -> None:
    """One device-model attribute, keyed as OCPP 2.0.1 identifies it (raw camelCase dicts)."""
    evse = component.get("evse") or {}
    DeviceModelVariable.objects.update_or_create(
        station_id=station_pk,
        component=component.get("name", "")[:50],
        component_instance=(component.get("instance") or "")[:50],
        evse_id=evse.get("id") or 0,
        connector_id=evse.get("connectorId") or 0,
        variable=variable.get("name", "")[:50],
        variable_instance=(variable.get("instance") or "")[:50],
        attribute_type=attribute_type,
        defaults=values,
    )


def record_event(*, station_pk: int, kind: str, timestamp: datetime, summary: str, payload: dict) -> StationEvent:
    return StationEvent.objects.create(
        station_id=station_pk, kind=kind, timestamp=timestamp, summary=summary[:255], payload=payload
    )

