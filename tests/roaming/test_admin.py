"""The operator's view of roaming: partners, outbox and request log in the admin; the commands."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from roaming import outbox, partners, push
from roaming.credentials import add_partner
from roaming.models import Partner, PartnerStatus, RequestLog, token_digest

pytestmark = pytest.mark.django_db


def test_ocpi_add_partner_prints_a_token_a_that_only_its_digest_is_stored(capsys, settings):
    settings.OCPI_BASE_URL = "https://cpo.example.com"
    call_command("ocpi_add_partner", "Acme")
    out = capsys.readouterr().out
    assert "https://cpo.example.com/ocpi/versions" in out
    token_a = out.strip().rsplit("token A: ", 1)[1]
    partner = Partner.objects.get(name="Acme")
    assert partner.status == PartnerStatus.PENDING and partner.incoming_token_digest == token_digest(token_a)
    assert token_a not in str(Partner.objects.values().get())


def test_the_admin_shows_partners_with_their_outbox_and_log(client):
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    partner, _ = add_partner(name="Acme")
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.REGISTERED, outgoing_token="secret-out")
    push.push_command_result(partner=partner, response_url="http://127.0.0.1:9/unreachable", result="ACCEPTED")
    RequestLog.objects.create(partner=partner, direction="in", method="GET", url="/ocpi/versions", http_status=200)

    page = client.get(f"/admin/roaming/partner/{partner.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/ocpi/versions" in html  # the request log
    assert "POST commands → Acme" in html  # the outbox entry that waits
    assert "secret-out" not in html  # our token for them is not shown
    for url in ("/admin/roaming/partner/", "/admin/roaming/outboxentry/", "/admin/roaming/requestlog/",
                "/admin/roaming/partnertoken/"):
        assert client.get(url).status_code == 200, url
