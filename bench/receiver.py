"""A fast webhook receiver for the events benchmark, in a process of its own: HTTP/1.1 with
keep-alive on asyncio, answering every POST 204 and noting when each ``webhook-id`` first
arrived (a receiver that is not the bottleneck, so that the relay is what is measured).
``GET /stats`` answers ``{"count": n, "arrivals": {id: unix time}}``.

    python -m bench.receiver PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

arrivals: dict[str, float] = {}
posts = [0]  # how many POSTs were answered


class Connection(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            self.answer(lines[0].split(" ")[0], headers)

    def answer(self, method: str, headers: dict[str, str]) -> None:
        if method == "GET":
            body = json.dumps({"count": posts[0], "arrivals": arrivals}).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return
        posts[0] += 1
        event_id = headers.get("webhook-id", "")
        if event_id and "webhook-signature" in headers:
            arrivals.setdefault(event_id, time.time())
        self.transport.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
