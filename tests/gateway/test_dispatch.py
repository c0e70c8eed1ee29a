"""The direct CALL dispatch (gateway.frames): the same keys and answers as the ``ocpp``
package's own conversion, and handlers registered with ``@on`` in the usual way are found."""

import json
from decimal import Decimal

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.routing import on
from ocpp.v21 import call_result as result21
from ocpp.v201 import call_result as result201
from ocpp.v16 import call_result as result16

from gateway.frames import answer_payload, dumps, to_snake
from gateway.v21 import StationHandler21
from gateway.v201 import StationHandler201
from gateway.v16 import StationHandler16
from gateway.validation import SCHEMA_ROOT


def _package_answer(result) -> dict:
    return snake_to_camel_case(remove_nones(serialize_as_dict(result)))


def test_answers_are_the_payloads_the_package_would_send():
    answers = [
        result16.BootNotification(current_time="2026-12-06T10:00:00Z", interval=300, status="Accepted"),
        result16.StopTransaction(),
        result16.Authorize(id_tag_info={"status": "Accepted", "expiry_date": "2026-12-07T00:00:00Z",
                                        "parent_id_tag": None}),
        result201.Authorize(id_token_info={"status": "Accepted", "group_id_token": {"id_token": "G", "type": "Central"},
                                           "personal_message": {"format": "UTF8", "content": "0.30 EUR/kWh"}}),
        result201.TransactionEvent(total_cost=Decimal("12.34"), id_token_info=None),
        result21.Authorize(id_token_info={"status": "Accepted"}, allowed_energy_transfer=["DC", "AC_BPT"]),
        result21.PullDynamicScheduleUpdate(status="Rejected", status_info={"reason_code": "UnknownProfile"}),
    ]
    for answer in answers:
        assert answer_payload(answer) == _package_answer(answer), answer
    total = json.loads(dumps([3, "1", answer_payload(answers[4])]))[2]["totalCost"]
    assert total == 12.3  # the package's encoder writes Decimals with one decimal


def test_every_request_key_of_every_schema_converts_as_the_package_converts_it():
    keys = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for version in ("v16", "v201", "v21"):
        for path in (SCHEMA_ROOT / version / "schemas").glob("*.json"):
            walk(json.loads(path.read_text(encoding="utf-8-sig")))
    assert len(keys) > 300
    payload = {key: [{key: 1}] for key in keys}
    assert to_snake(payload) == camel_to_snake_case(payload)


def test_handlers_of_each_version_are_routed_and_a_new_on_handler_is_found():
    assert StationHandler16.routes()["BootNotification"].on == "on_boot_notification"
    assert StationHandler201.routes()["TransactionEvent"].on == "on_transaction_event"
    assert StationHandler21.routes()["NotifyDERAlarm"].on == "on_notify_der_alarm"
    assert StationHandler16.routes()["SignCertificate"].on_wants_id

    class WithNewAction(StationHandler21):
        @on("NotifyExampleThing")
        async def on_notify_example_thing(self, evse_id, call_unique_id, **kw):
            return {}

    route = WithNewAction.routes()["NotifyExampleThing"]
    assert route.on == "on_notify_example_thing" and route.checked and route.on_wants_id
    assert "NotifyExampleThing" not in StationHandler21.routes()
