"""The operator's view of roaming: partners, outbox and request log in the admin; the commands."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from roaming import push
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


def test_finance_finds_the_settlement_report_on_the_roaming_cdr_list(client):
    from django.contrib.auth.models import Group

    from billing.invoice_selectors import FINANCE_GROUP

    finance = User.objects.create_user("finance", is_staff=True)
    finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    client.force_login(finance)
    page = client.get("/admin/roaming/roamingcdr/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/admin/roaming/roamingcdr/settlement/?period=" in html
    link = html.split('href="/admin/roaming/roamingcdr/settlement/?period=')[1].split('"')[0]
    report = client.get(f"/admin/roaming/roamingcdr/settlement/?period={link}")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    assert b"".join(report.streaming_content).decode().startswith("row,partner,party,direction,cdr_id")
    assert client.get("/admin/roaming/partner/").status_code in (302, 403)  # partners stay operators' business


def test_the_admin_lists_the_emsp_side(client):
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    for url in ("/admin/roaming/roaminglocation/", "/admin/roaming/roamingtariff/", "/admin/roaming/roamingsession/",
                "/admin/roaming/roamingcdr/", "/admin/roaming/remotecommand/", "/admin/roaming/hubclient/"):
        assert client.get(url).status_code == 200, url


def test_tokens_we_hand_out_never_look_like_command_line_options(monkeypatch):
    import secrets

    from roaming.auth import new_token

    drawn = iter(["-looks-like-an-option", "fine-token"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert new_token() == "fine-token"
