import pytest

from roaming.credentials import add_partner
from roaming.models import Partner
from tests.roaming.emsp import TestEmsp


@pytest.fixture
def emsp():
    server = TestEmsp()
    yield server
    server.stop()


@pytest.fixture
def cpo(live_server, settings):
    """ChargeNet served over real HTTP (pytest-django's live server, sharing the test database)."""
    settings.OCPI_BASE_URL = live_server.url
    settings.OCPI_AUTHORIZE_TIMEOUT_S = 5
    return live_server.url


@pytest.fixture
def registered_emsp(cpo, emsp):
    """The test eMSP, registered with us through the full handshake; returns (emsp, partner)."""
    _, token_a = add_partner(name="Test eMSP")
    answer = emsp.register_with(f"{cpo}/ocpi/versions", token_a)
    assert answer["status_code"] == 1000, answer
    return emsp, Partner.objects.get(name="Test eMSP")
