"""Firmware and log locations are OCPP anyURIs: any absolute URL with a scheme a station can
fetch from or upload to (http, https, ftp, ftps), also hosts without a dot and user:pw@,
within the version's length limit (2.0.1: 512 characters)."""

import pytest

from stations.commands.catalog import CommandError, validate_params

GOOD = [
    "http://app:9/upload",
    "ftp://user:pw@fileserver/upload",
    "ftps://files.example.com:990/fw/image.bin",
    "https://cdn.example.com/fw.bin?sig=abc&exp=1",
    "http://10.0.0.7/diag",
    "http://[2001:db8::1]:8080/x",
    "HTTP://Upper.Example/",
    "http://localhost/" + "a" * (512 - len("http://localhost/")),
]
BAD = [
    "file:///etc/passwd",
    "javascript:alert(1)",
    "fileserver/upload",
    "/relative/path",
    "http://",
    "http:///nohost",
    "http://host:99999/",
    "http://host:port/",
    "http://bad host/",
    "http://host/\x00",
    "gopher://old.example/",
    "http://localhost/" + "a" * (513 - len("http://localhost/")),
]


# what else each command requires
REQUIRED = {"signed_update_firmware": {"retrieve_at": "2025-03-01T10:00:00Z", "signing_certificate": "PEM",
                                       "signature": "c2ln"}}


@pytest.mark.parametrize("command", ["update_firmware", "get_log", "get_diagnostics", "signed_update_firmware"])
@pytest.mark.parametrize("location", GOOD)
def test_locations_a_station_can_use_are_accepted(command, location):
    assert validate_params(command, {"location": location, **REQUIRED.get(command, {})})["location"] == location


@pytest.mark.parametrize("command", ["update_firmware", "get_log", "signed_update_firmware"])
@pytest.mark.parametrize("location", BAD)
def test_other_locations_are_refused_with_a_message(command, location):
    with pytest.raises(CommandError) as refused:
        validate_params(command, {"location": location, **REQUIRED.get(command, {})})
    assert "location" in refused.value.details
    assert refused.value.details["location"][0]
