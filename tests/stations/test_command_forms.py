"""The station page's command forms turn typed fields into the command's parameters."""

import pytest

from stations.commands.forms import CommandForm

pytestmark = pytest.mark.django_db


def parameters(command: str, data: dict, **kwargs) -> dict:
    form = CommandForm({"command": command, **data}, command=command, **kwargs)
    assert form.is_valid(), form.errors
    return form.parameters()


def test_a_charging_profile_is_built_from_period_lines():
    params = parameters("set_charging_profile", {
        "evse_id": "1", "purpose": "TxDefaultProfile", "stack_level": "0", "kind": "Absolute",
        "charging_rate_unit": "A", "periods": "0 16 3\n3600, 10, 1\n", "source": "operator",
    }, evses=[1, 2])
    assert params["periods"] == [{"start_period_s": 0, "limit": 16, "number_phases": 3},
                                 {"start_period_s": 3600, "limit": 10, "number_phases": 1}]
    assert params["evse_id"] == 1 and params["charging_rate_unit"] == "A"


def test_typed_fields_blank_ones_left_out_and_the_free_box_on_top():
    assert parameters("reset", {"type": "hard", "evse_id": ""}, evses=[1]) == {"type": "hard"}
    assert parameters("change_availability", {"operational": "false", "evse_id": "0"}, evses=[1]) == {
        "operational": False, "evse_id": 0}
    assert parameters("get_charging_profiles", {"profile_ids": "3, 4", "params": "stack_level=2"}) == {
        "profile_ids": [3, 4], "stack_level": 2}
    form = CommandForm(command="start_session", evses=[1, 2], tokens=["04A2"])
    assert [c[0] for c in form.fields["evse_id"].choices] == ["", "1", "2"]
    assert form.fields["id_token"].widget.attrs["list"] == "known-tokens"


def test_date_times_are_typed_in_the_sites_zone_and_sent_in_utc():
    """An operator in Berlin types 09:30 local (08:30 UTC in winter, 07:30 in summer); the
    active request zone (UTC here) must not matter."""
    form = CommandForm(command="update_firmware", time_zone="Europe/Berlin")
    assert form.fields["retrieve_at"].label == "Retrieve at (Europe/Berlin)"
    assert "local time in Europe/Berlin, sent to the station in UTC" in form.fields["retrieve_at"].help_text
    params = parameters("update_firmware", {"location": "https://fw.example.com/fw.bin",
                                            "retrieve_at": "2026-12-06T09:30", "install_at": "2026-07-01T09:30"},
                        time_zone="Europe/Berlin")
    assert params["retrieve_at"] == "2026-12-06T08:30:00Z"
    assert params["install_at"] == "2026-07-01T07:30:00Z"
    assert parameters("update_firmware", {"location": "https://fw.example.com/fw.bin",
                                          "retrieve_at": "2026-12-06T09:30"})["retrieve_at"] == "2026-12-06T09:30:00Z"
