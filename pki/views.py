"""OCSP responder and CRL distribution over HTTP: public by nature (relying parties, EVs,
stations ask them without an account), so no authentication, and no state changes."""

from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from pki.models import CertificateAuthority
from pki.services import crl, ocsp

MAX_REQUEST_BYTES = 16 * 1024


def _signing_ca(ca_id: int) -> CertificateAuthority:
    ca = CertificateAuthority.objects.select_related("certificate").filter(pk=ca_id).first()
    if ca is None or not ca.has_private_key:
        raise Http404("no such CA here")
    return ca


@csrf_exempt
def ocsp_responder(request, ca_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    ca = _signing_ca(ca_id)
    if request.content_type != ocsp.OCSP_REQUEST:
        return HttpResponse("expected application/ocsp-request", status=415, content_type="text/plain")
    body = request.body[: MAX_REQUEST_BYTES + 1]
    if len(body) > MAX_REQUEST_BYTES:
        return HttpResponse("request too large", status=413, content_type="text/plain")
    return HttpResponse(ocsp.respond(ca=ca, request_der=body), content_type=ocsp.OCSP_RESPONSE)


def crl_view(request, ca_id: int):
    ca = _signing_ca(ca_id)
    response = HttpResponse(crl.build_crl(ca=ca), content_type="application/pkix-crl")
    response["Content-Disposition"] = f'inline; filename="{ca_id}.crl"'
    return response
