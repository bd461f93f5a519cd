#!/usr/bin/env python
# mypy: ignore-errors

# A chat room in the shape of websockets 9 and 10 era tutorials: a set of
# connected clients, broadcast() to all of them, the user's name read from
# websocket.request_headers, and a WebSocketServerProtocol subclass whose
# process_request() serves only /chat. "import wskit as websockets" stands
# for "import websockets"; the host and port come from the command line, and
# the server prints the port.

import asyncio
import http
import json
import sys

import wskit as websockets

HOST, PORT = sys.argv[1], int(sys.argv[2])

CLIENTS = set()


class ChatServerProtocol(websockets.WebSocketServerProtocol):
    async def process_request(self, path, request_headers):
        if path != "/chat":
            return http.HTTPStatus.NOT_FOUND, [], b"Not found\n"
        return await super().process_request(path, request_headers)


def users_event():
    return json.dumps({"type": "users", "count": len(CLIENTS)})


async def chat(websocket, path):
    name = websocket.request_headers.get("X-Name", "anonymous")
    CLIENTS.add(websocket)
    print(f"{name} joined from {websocket.remote_address[0]}", flush=True)
    try:
        websockets.broadcast(CLIENTS, users_event())
        async for message in websocket:
            event = {"type": "message", "from": name, "text": message}
            websockets.broadcast(CLIENTS, json.dumps(event))
    finally:
        CLIENTS.remove(websocket)
        websockets.broadcast(CLIENTS, users_event())
        print(f"{name} left (code {websocket.close_code})", flush=True)


start_server = websockets.serve(chat, HOST, PORT, create_protocol=ChatServerProtocol)

server = asyncio.get_event_loop().run_until_complete(start_server)
print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
asyncio.get_event_loop().run_forever()
