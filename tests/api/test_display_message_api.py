"""Display messages through the API's command endpoint: the same validation and log as any command."""

import pytest

from stations.models import ChargingStation, CommandLog
from tests.api.test_network_api import roles  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def test_set_display_message_through_the_api(roles):  # noqa: F811
    ChargingStation.objects.filter(station_id="ACME-1").update(ocpp_version="2.0.1")
    response = roles["owner"].post("/api/v1/stations/ACME-1/commands/", {
        "command": "set_display_message", "message": "Charger at 11 kW until Friday", "priority": "InFront",
        "start_at": "2026-12-07T08:00:00Z", "end_at": "2026-12-11T18:00:00Z"}, format="json")
    assert response.status_code == 409 and response.json()["outcome"] == "offline"  # built, logged, not connected
    log = CommandLog.objects.get()
    assert log.ocpp_action == "SetDisplayMessage"
    assert log.ocpp_request["message"]["message"] == {"format": "UTF8", "content": "Charger at 11 kW until Friday"}
    assert log.ocpp_request["message"]["id"] == 1


@pytest.mark.parametrize("body, text", [
    ({"command": "set_display_message", "message": "x", "priority": "Loud"}, "priority"),
    ({"command": "clear_display_message"}, "id"),
    ({"command": "get_display_messages", "state": "Sleeping"}, "state"),
])
def test_bad_display_message_commands_are_400(roles, body, text):  # noqa: F811
    ChargingStation.objects.filter(station_id="ACME-1").update(ocpp_version="2.0.1")
    response = roles["operator"].post("/api/v1/stations/ACME-1/commands/", body, format="json")
    assert response.status_code == 400 and text in str(response.json())
    assert not CommandLog.objects.exists()


def test_a_16_station_gets_a_clear_400(roles):  # noqa: F811
    response = roles["operator"].post("/api/v1/stations/ACME-1/commands/",
                                      {"command": "set_display_message", "message": "Hi"}, format="json")
    assert response.status_code == 400 and "OCPP 1.6 has no display messages" in str(response.json())
