"""The PKI admin: operators create and import CAs, revoke, approve; keys never shown; others kept out."""

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth.models import User
from django.test import Client

from pki.models import CaRole, Certificate, CertificateAuthority, SigningRequest, SigningRequestStatus
from pki.services.ca import ca_private_key
from tests.pki.conftest import make_csr
from tests.pki.test_ca import _external_pki, _pem

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client():
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def test_operator_creates_a_root_in_the_admin(operator_client):
    response = operator_client.post("/admin/pki/certificateauthority/add/",
                                    {"name": "Test Root", "role": CaRole.OEM_ROOT, "domain": "OEM"})
    assert response.status_code == 302
    ca = CertificateAuthority.objects.get(name="Test Root")
    assert ca.has_private_key and ca.is_trust_anchor


def test_operator_imports_an_external_root(operator_client):
    root, _, _ = _external_pki()
    response = operator_client.post("/admin/pki/certificateauthority/import/",
                                    {"name": "OEM X", "role": CaRole.OEM_ROOT, "certificate_chain": _pem(root)})
    assert response.status_code == 302
    ca = CertificateAuthority.objects.get(name="OEM X")
    assert ca.is_trust_anchor and not ca.has_private_key


def test_import_errors_are_shown_not_half_written(operator_client):
    response = operator_client.post("/admin/pki/certificateauthority/import/",
                                    {"name": "Bad", "role": CaRole.OEM_ROOT, "certificate_chain": "nonsense"})
    assert response.status_code == 200 and b"not a PEM certificate chain" in response.content
    assert not CertificateAuthority.objects.exists()


def test_private_keys_appear_on_no_admin_page(operator_client, hierarchy):
    ca = hierarchy[CaRole.CPO_SUB_CA_2]
    key_pem = ca_private_key(ca).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    body = key_pem.split(b"\n")[1]
    for url in ("/admin/pki/certificateauthority/", f"/admin/pki/certificateauthority/{ca.pk}/change/",
                f"/admin/pki/certificate/{ca.certificate_id}/change/"):
        page = operator_client.get(url)
        assert page.status_code == 200
        assert body not in page.content and b"PRIVATE KEY" not in page.content


def test_revoke_action(operator_client, hierarchy):
    sub2 = hierarchy[CaRole.CPO_SUB_CA_2].certificate
    operator_client.post("/admin/pki/certificate/", {"action": "revoke", "_selected_action": [sub2.pk]})
    assert Certificate.objects.get(pk=sub2.pk).revoked_at is not None


def test_reject_action_for_a_pending_request(operator_client, hierarchy, make_station):
    station = make_station("CP-1")
    _, csr = make_csr("CP-1")
    request = SigningRequest.objects.create(station=station, certificate_type="V2GCertificate", csr_pem=csr)
    operator_client.post("/admin/pki/signingrequest/", {"action": "reject", "_selected_action": [request.pk]})
    assert SigningRequest.objects.get(pk=request.pk).status == SigningRequestStatus.REJECTED


def test_site_owners_and_drivers_see_no_pki(hierarchy):
    user = User.objects.create_user("owner", "o@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/pki/certificateauthority/").status_code == 403
    assert client.get("/admin/pki/certificate/").status_code == 403
