"""Simulated stations in the test's own process: their WebSocket and HTTP go through the
real ASGI application (``chargenet.asgi``) instead of the network, so eager Celery tasks
and the in-memory channel layer reach them."""

from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from channels.testing import HttpCommunicator, WebsocketCommunicator


class _AsgiWebSocket:
    def __init__(self, communicator: WebsocketCommunicator, subprotocol: str | None):
        self.communicator = communicator
        self.subprotocol = subprotocol

    async def recv(self) -> str:
        while True:
            message = await self.communicator.receive_output(timeout=3600)
            if message["type"] == "websocket.send":
                return message.get("text") or message["bytes"].decode()
            if message["type"] == "websocket.close":
                raise ConnectionError("the server closed the connection")

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)


@asynccontextmanager
async def asgi_connect(url: str, subprotocol: str, headers: dict, open_timeout: float):
    from chargenet.asgi import application

    communicator = WebsocketCommunicator(
        application, urlsplit(url).path, subprotocols=[subprotocol],
        headers=[(k.lower().encode(), v.encode()) for k, v in headers.items()],
    )
    connected, chosen = await communicator.connect(timeout=max(open_timeout, 10))
    if not connected:
        raise ConnectionError("handshake refused")
    try:
        yield _AsgiWebSocket(communicator, chosen)
    finally:
        await communicator.disconnect()


async def asgi_http(method: str, url: str, body: bytes | None = None, timeout_s: float = 60) -> tuple[int, bytes]:
    from chargenet.asgi import application

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    communicator = HttpCommunicator(application, method, path, body=body or b"", headers=[(b"host", b"testserver")])
    await communicator.send_input({"type": "http.request", "body": body or b""})
    start = await communicator.receive_output(timeout_s)
    content = b""
    while True:  # a streamed file ends with a chunk that may carry no body at all
        chunk = await communicator.receive_output(timeout_s)
        content += chunk.get("body", b"")
        if not chunk.get("more_body", False):
            break
    return start["status"], content
