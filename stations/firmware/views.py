"""HTTP endpoints stations use: firmware download and diagnostics upload.

Stations have no session or API token here: each link carries a signed, time-limited token
that authorises exactly one firmware (download) or one diagnostics request (upload).
"""

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from stations.firmware import catalog, diagnostics

CHUNK_BYTES = 256 * 1024


async def _chunks(file):
    """Read the file in chunks off the event loop: daphne streams it without holding it whole."""
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while chunk := await read(CHUNK_BYTES):
            yield chunk
    finally:
        await sync_to_async(file.close, thread_sensitive=False)()


@require_http_methods(["GET", "HEAD"])
def firmware_download(request, token: str, name: str):
    image = catalog.image_for_token(token)
    if image is None:
        return HttpResponse("link invalid or expired\n", status=403, content_type="text/plain")
    response = StreamingHttpResponse(_chunks(image.file.open("rb")), content_type="application/octet-stream")
    response["Content-Length"] = str(image.size_bytes)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Checksum-SHA256"] = image.sha256
    return response


@csrf_exempt
@require_http_methods(["PUT", "POST"])
def diagnostics_upload(request, token: str, name: str = ""):
    diagnostics_request = diagnostics.request_for_token(token)
    if diagnostics_request is None:
        return HttpResponse("link invalid or expired\n", status=403, content_type="text/plain")
    if request.method == "POST" and request.FILES:
        upload = next(iter(request.FILES.values()))
        if upload.size > diagnostics.settings.DIAGNOSTICS_UPLOAD_MAX_BYTES:
            return HttpResponse("file too large\n", status=413, content_type="text/plain")
        content, file_name = upload.read(), upload.name
    else:
        content, file_name = request.body, name or request.GET.get("name", "")
    if not content:
        return HttpResponse("empty upload\n", status=400, content_type="text/plain")
    try:
        stored = diagnostics.store_upload(request=diagnostics_request, file_name=file_name, content=content)
    except diagnostics.UploadRefused as refused:
        return HttpResponse(f"{refused}\n", status=refused.status, content_type="text/plain")
    return JsonResponse({"file_name": stored.file_name, "size_bytes": stored.size_bytes}, status=201)
