#!/usr/bin/env python3
"""A complete client of the chat service in Python: REST with requests, live events with python-socketio's Client.

Two users, Alice and Bob, talk in a direct room. The script walks through what a client meets: the token in the
socket's auth payload, sends with an acknowledgement, a retry that stores nothing twice, a refused payload, delivery
and read receipts, typing, a reaction, catching up after a disconnect, and a bad token refused. It prints one line a
step and exits 0 when everything behaved as docs/other-languages.md says.

    python3 chat_client.py http://localhost:3000                    # development: tokens from POST /dev/token
    CHAT_JWT_SECRET=... python3 chat_client.py https://chat.example   # mints HS256 tokens with the service's secret
    python3 chat_client.py https://chat.example --tokens "$ALICE,$BOB"   # tokens from your identity provider

Needs python-socketio 5 with requests and websocket-client (Debian: python3-socketio python3-requests
python3-websocket; pip: "python-socketio[client]").
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import uuid

import requests
import socketio

API = "/api/v1/chat"
NAMESPACE = "/chat"
SERVER_EVENTS = [
    "ready", "new_message", "message_updated", "message_deleted", "reaction_updated", "user_typing",
    "message_read", "message_delivered", "user_online", "user_offline", "room_created", "room_updated",
    "participant_added", "participant_removed", "suspended",
]


class Failed(Exception):
    """The service did not behave as docs/other-languages.md says."""


def check(condition, why):
    if not condition:
        raise Failed(why)


def step(name, detail=""):
    print(f"ok {name}: {detail}", flush=True)


# --- Tokens ---------------------------------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, user_id, name, ttl_s=3600):
    """What your backend does for its users: an HS256 JWT whose `sub` is the user id."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": user_id, "name": name, "iat": now, "exp": now + ttl_s}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


def dev_token(base_url, user_id, name):
    """Development servers only (404 in production): the web app's sign-in."""
    res = requests.post(f"{base_url}/dev/token", json={"userId": user_id, "name": name}, timeout=10)
    res.raise_for_status()
    return res.json()["token"]


def subject(token):
    """The user id a token names (read, not verified: the server verifies)."""
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]


# --- REST -----------------------------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status, problem):
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail')}")
        self.status, self.code = status, problem.get("code")


class Api:
    """Every call carries the bearer token; errors are application/problem+json with a stable `code`."""

    def __init__(self, base_url, token):
        self.base = base_url + API
        self.http = requests.Session()
        self.http.headers["authorization"] = f"Bearer {token}"

    def __call__(self, method, path, body=None):
        res = self.http.request(method, self.base + path, json=body, timeout=10)
        if res.status_code >= 400:
            raise ApiError(res.status_code, res.json() if "json" in res.headers.get("content-type", "") else {})
        return res.json() if res.content else None


# --- Socket.IO ------------------------------------------------------------------------------------------------------

class AckError(Exception):
    def __init__(self, error):
        super().__init__(f"{error['code']}: {error['message']}")
        self.code, self.message = error["code"], error["message"]


class Inbox:
    """Server events as they arrive, and a way for the main thread to wait for one."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def record(self, event):
        # Broadcast events carry one more argument than their payload: the connection state recovery offset
        # (a string). A handler taking exactly one argument would fail with a TypeError on every one of them.
        def handler(payload, *extra):
            with self.cond:
                self.events.append((event, payload, extra))
                self.cond.notify_all()
            # new_message asks for an acknowledgement; python-socketio sends it when this handler returns, and that
            # ack is the delivery receipt (the sender gets message_delivered). Each event is handled in a thread of
            # its own, so two may be handled out of order: order by seq / changeSeq, and share state under a lock.
        return handler

    def wait(self, event, match=lambda payload: True, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for name, payload, extra in self.events:
                    if name == event and match(payload):
                        return payload, extra
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {event} within {timeout} s")
                self.cond.wait(left)


def open_socket(base_url, token, inbox=None):
    # Reconnecting is the application's job here: after a reconnect it catches up through REST (see catch_up).
    sio = socketio.Client(reconnection=False)
    if inbox:
        for event in SERVER_EVENTS:
            sio.on(event, inbox.record(event), namespace=NAMESPACE)
    # WebSocket only: no long-polling first, so no sticky sessions are needed in front of several instances.
    sio.connect(base_url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return sio


def refusal(base_url, token):
    """The code a refused handshake gives (UNAUTHORIZED, RATE_LIMITED), or None if the socket connected.

    connect() with wait=True would raise ConnectionError, but python-socketio 5.7 only does so once its whole
    wait_timeout has passed; connect_error, an event like any other, arrives at once.
    """
    answered, errors = threading.Event(), []
    sio = socketio.Client(reconnection=False)

    def on_error(data=None, *_):
        errors.append(data)
        answered.set()

    sio.on("connect_error", on_error, namespace=NAMESPACE)
    sio.on("ready", lambda *_: answered.set(), namespace=NAMESPACE)
    sio.connect(base_url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"], wait=False)
    answered.wait(10)
    sio.disconnect()
    return errors[0]["message"] if errors else None


def ack(sio, event, payload):
    """Emit and wait for the acknowledgement: { ok: true, data } or { ok: false, error: { code, message } }."""
    res = sio.call(event, payload, namespace=NAMESPACE, timeout=10)
    if not res["ok"]:
        raise AckError(res["error"])
    return res["data"]


def catch_up(api, room_id, after):
    """Everything that changed in a room after a changeSeq: new messages, edits, deletes (tombstones), reactions, pins."""
    changed = []
    while True:
        page = api("GET", f"/rooms/{room_id}/changes?after={after}&limit=100")
        changed += page["data"]
        if not page["hasMore"]:
            return changed, page["lastChangeSeq"]
        after = page["data"][-1]["changeSeq"]


# --- The walk-through -----------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description="Walks two users through the chat service's REST and Socket.IO API.")
    parser.add_argument("url", help="the service, e.g. http://localhost:3000")
    parser.add_argument("--jwt-secret", default=os.environ.get("CHAT_JWT_SECRET"),
                        help="the service's JWT_SECRET, to mint tokens (default: $CHAT_JWT_SECRET)")
    parser.add_argument("--tokens", help="two tokens, ALICE,BOB, instead of minting them")
    parser.add_argument("--users", default="alice,bob", help="the two user ids when tokens are minted (default alice,bob)")
    args = parser.parse_args()
    base_url = args.url.rstrip("/")

    if args.tokens:
        alice_token, bob_token = args.tokens.split(",")
    else:
        def token(user_id):
            if args.jwt_secret:
                return mint(args.jwt_secret, user_id, user_id.title())
            return dev_token(base_url, user_id, user_id.title())

        alice_token, bob_token = (token(u) for u in args.users.split(","))
    alice_id, bob_id = subject(alice_token), subject(bob_token)
    alice_api, bob_api = Api(base_url, alice_token), Api(base_url, bob_token)
    step("tokens", f"{alice_id} and {bob_id}")

    room = alice_api("POST", "/rooms", {"type": "direct", "participantIds": [bob_id]})
    room_id = room["id"]
    step("room", f"direct room {room_id}")

    alice_inbox, bob_inbox = Inbox(), Inbox()
    alice, bob = open_socket(base_url, alice_token, alice_inbox), open_socket(base_url, bob_token, bob_inbox)
    ready, extra = bob_inbox.wait("ready")
    step("connect", f"{ready['userId']} ready, recovered={ready['recovered']} (+{len(extra)} extra argument)")

    ack(alice, "typing_start", {"chatRoomId": room_id})
    typing, _ = bob_inbox.wait("user_typing", lambda e: e["userId"] == alice_id and e["isTyping"])
    ack(alice, "typing_stop", {"chatRoomId": room_id})
    bob_inbox.wait("user_typing", lambda e: e["userId"] == alice_id and not e["isTyping"])
    step("typing", f"{bob_id} saw {typing['userId']} start and stop typing")

    # One clientMessageId per message, kept for every retry of it: a retry answers the stored message.
    client_id = str(uuid.uuid4())
    sent = ack(alice, "send_message", {"chatRoomId": room_id, "content": "Hello from Python", "clientMessageId": client_id})
    step("send", f"stored as seq {sent['seq']}, changeSeq {sent['changeSeq']}")
    again = ack(alice, "send_message", {"chatRoomId": room_id, "content": "Hello from Python", "clientMessageId": client_id})
    check(again["id"] == sent["id"], "a retry must answer the stored message")
    step("retry", f"same clientMessageId, same message {again['id']} (seq {again['seq']})")

    try:
        ack(alice, "send_message", {"chatRoomId": room_id, "content": "x" * 10_001})
        raise Failed("an over-long message must be refused")
    except AckError as err:
        step("refused", f"{err.code}: {err.message}")

    received, _ = bob_inbox.wait("new_message", lambda m: m["id"] == sent["id"])
    step("receive", f"{bob_id} got #{received['seq']} {received['content']!r} and acknowledged it")
    delivered, _ = alice_inbox.wait("message_delivered", lambda e: e["userId"] == bob_id and e["lastDeliveredSeq"] >= sent["seq"])
    step("delivered", f"{alice_id} told: delivered to {bob_id} up to seq {delivered['lastDeliveredSeq']}")

    ack(bob, "mark_as_read", {"chatRoomId": room_id, "messageId": sent["id"]})
    read, extra = alice_inbox.wait("message_read", lambda e: e["userId"] == bob_id and e["lastReadSeq"] >= sent["seq"])
    step("read", f"{alice_id} told: read by {bob_id} up to seq {read['lastReadSeq']} (+{len(extra)} extra argument)")

    reacted = ack(bob, "add_reaction", {"messageId": sent["id"], "emoji": "👍"})
    reaction, _ = alice_inbox.wait("reaction_updated", lambda e: e["messageId"] == sent["id"])
    step("reaction", f"{reaction['emoji']} by {reaction['userId']}, changeSeq {reaction['changeSeq']}")

    receipts = alice_api("GET", f"/messages/{sent['id']}/receipts")["data"]
    bobs = next(r for r in receipts if r["userId"] == bob_id)
    check(bobs["deliveredAt"] and bobs["readAt"], f"receipts must show delivery and reading: {receipts}")
    step("receipts", f"{bob_id} delivered {bobs['deliveredAt']}, read {bobs['readAt']}")

    # Bob goes away; Alice writes twice. Back online, Bob connects first, then asks what changed after the last
    # changeSeq he holds, so nothing falls between the two (an event also in the page is the same change twice).
    last_change = reacted["changeSeq"]
    bob.disconnect()
    for text in ("Are you there?", "Call me when you are back"):
        ack(alice, "send_message", {"chatRoomId": room_id, "content": text, "clientMessageId": str(uuid.uuid4())})
    bob = open_socket(base_url, bob_token, Inbox())
    missed, last_change = catch_up(bob_api, room_id, last_change)
    step("catch-up", f"{len(missed)} missed: {[m['content'] for m in missed]}, now at changeSeq {last_change}")

    code = refusal(base_url, "not-a-token")
    check(code == "UNAUTHORIZED", f"a bad token must be refused (got {code})")
    step("bad token", f"refused with connect_error {code}")

    alice.disconnect()
    bob.disconnect()
    print("done", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # one readable line, and a failing exit code for scripts and CI
        print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
