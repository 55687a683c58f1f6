"""moat's client checks with redis-py (Debian's python3-redis), run by cmd/moat/clients_test.go.

Usage: python3 check.py HOST PORT. Prints "ok NAME" or "FAIL NAME: why" for each check.
"""
import socket
import sys
import threading
import time

import redis

host, port = sys.argv[1], int(sys.argv[2])


def client():
    return redis.Redis(host=host, port=port, socket_timeout=10)


def check_ping(r):
    assert r.ping() is True


def check_set_get(r):
    assert r.set("py:k", "v") is True
    assert r.get("py:k") == b"v"


def check_pipeline(r):
    r.delete("py:n")
    p = r.pipeline(transaction=False)
    for _ in range(100):
        p.incr("py:n")
    assert p.execute()[-1] == 100


def check_big_value(r):
    v = b"x" * (8 << 20)
    r.set("py:big", v)
    assert r.get("py:big") == v


def check_multi(r):
    r.delete("py:m")
    p = r.pipeline(transaction=True)
    p.incr("py:m")
    p.incr("py:m")
    assert p.execute() == [1, 2]


def check_watch(r):
    r.set("py:w", "0")
    with r.pipeline(transaction=True) as p:
        p.watch("py:w")
        client().set("py:w", "other")
        p.multi()
        p.set("py:w", "mine")
        try:
            p.execute()
            raise AssertionError("EXEC ran despite the WATCHed key's change")
        except redis.WatchError:
            pass
    assert r.get("py:w") == b"other"


def check_scripting(r):
    r.set("py:s", "1")
    assert r.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "py:s", 4) == 5
    script = r.register_script("return redis.call('get', KEYS[1])")
    assert script(keys=["py:s"]) == b"5"


def check_pubsub(r):
    ps = r.pubsub()
    ps.subscribe("py:ch")
    ps.psubscribe("py:c*")
    deadline = time.time() + 5
    got = []
    sent = False
    while time.time() < deadline and len(got) < 2:
        m = ps.get_message(timeout=0.2)
        if m and m["type"] in ("message", "pmessage"):
            got.append((m["type"], m["data"]))
        if not sent and ps.subscribed:
            client().publish("py:ch", "hello")
            sent = True
    ps.close()
    assert sorted(got) == [("message", b"hello"), ("pmessage", b"hello")], got


def check_blocking(r):
    r.delete("py:q")
    threading.Timer(0.2, lambda: client().rpush("py:q", "job")).start()
    assert r.blpop("py:q", timeout=5) == (b"py:q", b"job")
    assert r.blpop("py:q", timeout=1) is None


def check_hello3(r):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"HELLO 3\r\n")
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"%"), reply
    assert b"proto\r\n:3\r\n" in reply, reply


def check_streams(r):
    r.delete("py:x")
    i = r.xadd("py:x", {"f": "v"})
    assert r.xread({"py:x": "0"}) == [[b"py:x", [(i, {b"f": b"v"})]]]


def check_expiry(r):
    r.set("py:e", "v", px=200)
    time.sleep(0.4)
    assert r.get("py:e") is None


for name, fn in list(globals().items()):
    if name.startswith("check_"):
        try:
            fn(client())
            print("ok", name[6:], flush=True)
        except Exception as e:  # report every check, whatever it raised
            print("FAIL", name[6:] + ":", repr(e)[:300], flush=True)
