"""python-websockets client for wsd's interop matrix.

The Go test (interop/python_test.go) runs it once per scenario with Debian's
interpreter, which sees Debian's python3-websockets:

    /usr/bin/python3 client.py ACTION PARAMS_JSON

and reads one JSON object from stdout: what this client saw (ok, error,
negotiated extensions and subprotocol, close code and reason, handshake
status, number of checked messages). Echoed payloads are compared here;
everything else is asserted by the Go test, which owns the expectations.

Written for websockets 10.4 (Debian bookworm) and its legacy asyncio API;
the few places where websockets >= 14 differs are handled in compat helpers.
"""

import asyncio
import json
import sys
import time

import websockets
import websockets.exceptions

ACTION = sys.argv[1]
PARAMS = json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
RESULT = {
    "library": "websockets %s (python %s)" % (websockets.__version__, sys.version.split()[0]),
    "ok": False,
    "error": "",
    "extensions": "",
    "protocol": "",
    "close_code": 0,
    "close_reason": "",
    "was_clean": False,
    "status": 0,
    "messages": 0,
}


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def ascii_text(n):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return (alphabet * (n // len(alphabet) + 1))[:n]


def pattern_bytes(n):
    return bytes(((i * 31 + (i >> 8)) & 0xFF) for i in range(n))


def deflate_message(i):
    """Message i of the compression scenarios (same shape as the Node client)."""
    return PARAMS["block"] + "." * PARAMS["filler"] + "#" + str(i)


def response_headers(ws):
    if hasattr(ws, "response_headers"):  # legacy API (<= 13)
        return ws.response_headers
    return ws.response.headers  # new asyncio API (>= 14)


def status_of(exc):
    code = getattr(exc, "status_code", None)  # legacy InvalidStatusCode
    if code is None and getattr(exc, "response", None) is not None:
        code = exc.response.status_code  # InvalidStatus (>= 14)
    return code


async def connect(url, **kw):
    kw.setdefault("open_timeout", 10)
    kw.setdefault("max_size", 4 << 20)
    ws = await websockets.connect(url, **kw)
    RESULT["status"] = 101
    RESULT["extensions"] = response_headers(ws).get("Sec-WebSocket-Extensions", "")
    RESULT["protocol"] = ws.subprotocol or ""
    return ws


async def echo(ws, msg, want=None):
    """Sends msg (a str, bytes, or a list of either, sent as fragments) and
    returns the reply, which must be of type want (default: msg's type)."""
    want = want or type(msg)
    await ws.send(msg)
    got = await ws.recv()
    check(type(got) is want, "echo of a %s came back as %s" % (want.__name__, type(got).__name__))
    return got


async def echo_text(ws):
    texts = [ascii_text(n) for n in PARAMS["sizes"]]
    texts += [PARAMS["sample"], PARAMS["sample"] * PARAMS["repeat"]]
    for t in texts:
        got = await echo(ws, t)
        check(got == t, "text of %d bytes came back different" % len(t.encode()))
        RESULT["messages"] += 1


async def echo_binary(ws):
    for n in PARAMS["sizes"]:
        b = pattern_bytes(n)
        got = await echo(ws, b)
        check(got == b, "binary of %d bytes came back different (%d bytes)" % (n, len(got)))
        RESULT["messages"] += 1


async def fragmented(ws):
    # websockets sends an iterable as one message, one frame per item.
    text = PARAMS["sample"] * PARAMS["repeat"]
    cuts = [min(c, len(text)) for c in PARAMS["cuts"]] + [len(text)]
    parts, start = [], 0
    for end in cuts:
        parts.append(text[start:end])
        start = end
    got = await echo(ws, parts, str)
    check(got == text, "fragmented text came back different")
    RESULT["messages"] += 1

    b = pattern_bytes(PARAMS["binary_size"])
    step = -(-len(b) // PARAMS["parts"])
    got = await echo(ws, [b[i : i + step] for i in range(0, len(b), step)], bytes)
    check(got == b, "fragmented binary came back different")
    RESULT["messages"] += 1


async def ping_pong(ws):
    for i in range(PARAMS["count"]):
        # The waiter resolves only on a pong carrying this ping's payload.
        waiter = await ws.ping(("ping %d ✓" % i).encode())
        await asyncio.wait_for(waiter, 5)
        RESULT["messages"] += 1
    got = await echo(ws, "after pings")
    check(got == "after pings", "echo after pings came back different")


async def keepalive(ws):
    """Waits, idle, until wsd has pinged several times (the library answers
    each ping with a pong by itself), then checks that the connection still
    carries data: wsd processed the pongs and kept it open."""
    RESULT["pings"] = 0
    enough = asyncio.Event()
    if hasattr(ws, "response_headers"):
        # The legacy API answers a ping through ws.pong: count the calls.
        answer = ws.pong

        async def counting_pong(data=b""):
            RESULT["pings"] += 1
            if RESULT["pings"] >= PARAMS["pings"]:
                enough.set()
            await answer(data)

        ws.pong = counting_pong
        await enough.wait()
    else:
        # Newer versions answer pings inside the protocol, out of sight:
        # stay idle for the time instead, and report no count.
        RESULT["pings"] = -1
        await asyncio.sleep(PARAMS["idle_ms"] / 1000)
    got = await echo(ws, "after idle")
    check(got == "after idle", "echo after idle came back different")
    RESULT["messages"] += 1


async def subprotocol(ws):
    got = await echo(ws, "hello")
    check(got == "hello", "echo came back different")
    RESULT["messages"] += 1


async def deflate(ws):
    for i in range(PARAMS["count"]):
        t = deflate_message(i)
        msg = t.encode() if i % 2 == 1 else t
        got = await echo(ws, msg)
        check(got == msg, "message %d came back different" % i)
        RESULT["messages"] += 1


async def close_client(ws):
    got = await echo(ws, "before close")
    check(got == "before close", "echo came back different")
    await timed_close(ws, PARAMS["code"], PARAMS["reason"])


async def timed_close(ws, code, reason):
    """Closes and records how long the closing handshake took."""
    start = time.monotonic()
    await ws.close(code, reason)
    RESULT["close_ms"] = round((time.monotonic() - start) * 1000)


async def await_close(ws):
    """Proves the connection open with one echo, then waits for wsd to close
    it (the Go test runs wsctl kill meanwhile)."""
    got = await echo(ws, "ready")
    check(got == "ready", "echo came back different")
    RESULT["messages"] += 1
    await ws.wait_closed()


async def close_server_too_big(ws):
    try:
        await ws.send(pattern_bytes(PARAMS["size"]))
        await ws.recv()
    except websockets.exceptions.ConnectionClosed:
        return
    raise Failed("a message came back for a message above the server's limit")


async def origin():
    try:
        ws = await connect(PARAMS["url"], origin=PARAMS["bad_origin"])
        await ws.close()
        raise Failed("handshake with Origin %s succeeded" % PARAMS["bad_origin"])
    except websockets.exceptions.InvalidHandshake as e:
        code = status_of(e)
        if code is None:
            raise
        RESULT["bad_status"] = code
    ws = await connect(PARAMS["url"], origin=PARAMS["good_origin"])
    RESULT["good_status"] = RESULT["status"]
    await ws.close()


ACTIONS = {
    "echo-text": echo_text,
    "echo-binary": echo_binary,
    "fragmented": fragmented,
    "ping-pong": ping_pong,
    "keepalive": keepalive,
    "subprotocol": subprotocol,
    "deflate": deflate,
    "close-client": close_client,
    "await-close": await_close,
    "close-server-too-big": close_server_too_big,
}


async def run():
    if ACTION == "origin":
        await origin()
        RESULT["ok"] = True
        return
    action = ACTIONS.get(ACTION)
    check(action is not None, "unknown action %s" % ACTION)
    kw = {}
    if PARAMS.get("protocols"):
        kw["subprotocols"] = PARAMS["protocols"]
    if PARAMS.get("window_bits"):
        # Ask for small LZ77 windows both ways (server_max_window_bits too).
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

        bits = PARAMS["window_bits"]
        kw["compression"] = None
        kw["extensions"] = [ClientPerMessageDeflateFactory(server_max_window_bits=bits, client_max_window_bits=bits)]
    ws = await connect(PARAMS["url"], **kw)
    try:
        await action(ws)
    finally:
        if ws.close_code is None:  # still open
            await timed_close(ws, 1000, "done")
        await ws.wait_closed()
        RESULT["close_code"] = ws.close_code or 0
        RESULT["close_reason"] = ws.close_reason or ""
        RESULT["was_clean"] = ws.close_code not in (None, 1006)
    RESULT["ok"] = True


def main():
    try:
        asyncio.run(asyncio.wait_for(run(), PARAMS.get("timeout_ms", 20000) / 1000))
    except asyncio.TimeoutError:
        RESULT["error"] = "client timed out"
    except Exception as e:  # reported to the Go test, which fails the case
        RESULT["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(RESULT), flush=True)


if __name__ == "__main__":
    main()
