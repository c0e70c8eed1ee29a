"""Whatever a client sends the API gets a 4xx with a message, never a 500: absurd paging,
NUL characters in paths and filters, JSON nested 100,000 deep."""

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.services.registry import register_station

pytestmark = pytest.mark.django_db

LIST_ENDPOINTS = ["/api/v1/stations/", "/api/v1/sites/", "/api/v1/sessions/", "/api/v1/commands/",
                  "/api/v1/id-tokens/", "/api/v1/cdrs/", "/api/v1/invoices/", "/api/v1/firmware/"]
HUGE = "9" * 40


@pytest.fixture
def api() -> APIClient:
    register_station(station_id="CP-1", password="p" * 20)
    user = User.objects.create_superuser("ops", "ops@example.com", "x")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def assert_client_error(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response.content, "a 4xx needs a message"


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_a_forty_digit_limit_is_capped(api, url):
    response = api.get(url, {"limit": HUGE})
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] is not None


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_a_forty_digit_offset_is_a_400(api, url):
    response = api.get(url, {"offset": HUGE})
    assert_client_error(response)
    assert "offset" in response.json()


@pytest.mark.parametrize("url", ["/api/v1/stations/%00/", "/api/v1/stations/CP%00-1/", "/api/v1/stations/%00/commands/",
                                 "/api/v1/stations/?station_id=%00", "/api/v1/sessions/?station=%00"])
def test_nul_characters_are_a_400(api, url):
    response = api.get(url)
    assert_client_error(response)


def test_a_100000_deep_json_body_is_a_400(api):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post("/api/v1/stations/CP-1/commands/", body, content_type="application/json")
    assert_client_error(response)
    assert "JSON" in response.json()["detail"]
