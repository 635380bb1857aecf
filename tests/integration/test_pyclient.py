"""test_pyclient.py — the lgsp wire protocol, exercised against a real lgspd through pyclient only.

    LGSPD=build/bus/lgspd /usr/bin/python3 tests/integration/test_pyclient.py

Starts its own brokers (harness.Lgspd, 127.0.0.1 only). Exit code 0 when every check passed;
otherwise each failed check is printed and the exit code is 1.
"""

import os
import shutil
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness   # noqa: E402
import pyclient  # noqa: E402

FAILED = []
PASSED = [0]
HB_MS = 300


def check(cond, what):
    if cond:
        PASSED[0] += 1
    else:
        FAILED.append(what)
        print("FAIL:", what, flush=True)
    return cond


def section(fn):
    """Run one part of the test; an exception fails it (and is printed) without stopping the others."""
    print("--", fn.__name__, flush=True)
    try:
        fn()
    except Exception:
        FAILED.append("%s raised:\n%s" % (fn.__name__, traceback.format_exc()))
        print("FAIL: %s raised" % fn.__name__, traceback.format_exc(), flush=True)


def message(i):
    """The i-th test message: varied keys, headers (some none), payloads (one empty, binary bytes)."""
    key = "" if i % 3 == 0 else "k%d" % (i % 7)
    headers = None if i % 4 == 0 else {"n": str(i), "src": "test-\u00e9"}
    payload = b"" if i == 5 else bytes([i % 256, 0, 255]) + b"payload-%d" % i
    return ("msg-%05d" % i, key, headers, payload)


def topic_info(c, name):
    return next((t for t in c.admin("topics") if t["name"] == name), None)


def group_info(c, topic, group):
    t = topic_info(c, topic) or {}
    return next((g for g in t.get("groups", []) if g["name"] == group), None)


def wait_until(fn, timeout=5.0, client=None):
    """Poll fn() (servicing client meanwhile) until it is truthy or timeout: the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        if client:
            client.poll(0.1)
        else:
            time.sleep(0.1)


def take(c, n, timeout=5.0):
    """Receive until n deliveries arrived (or timeout), ACK them and give the credit back."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        batch = c.receive(deadline - time.monotonic())
        got += batch
        if batch:
            c.ack(batch[0].topic, batch[0].group, [m.offset for m in batch])
            c.credit(batch[0].topic, batch[0].group, len(batch))
    return got


def main():
    tmp = harness.workdir("pyclient")
    with harness.Lgspd(os.path.join(tmp, "plain"), security="plain", heartbeat_ms=HB_MS,
                       admins=["ops"]) as d:   # with an admins list, others may not use dlq verbs
        c = pyclient.Client(d.endpoint, "tester", timeout=10.0)
        msgs = [message(i) for i in range(1000)]
        first = {}

        def welcome():
            w = c.hello()
            check(len(w) == 4 and isinstance(w[0], str) and w[0], "WELCOME has a version text: %r" % (w,))
            check(w[1] == HB_MS, "WELCOME heartbeat_ms is the configured %d: %r" % (HB_MS, w))
            check(w[2] > 0 and w[3] > 0, "WELCOME pub_window and max_message_bytes > 0: %r" % (w,))

        def publish_batches():
            t0 = time.time()
            for i in range(0, 1000, 100):           # ten PUBs of 100, all in flight together
                c.publish_async("orders", msgs[i:i + 100])
            ids = [m[0] for m in msgs]
            wait_until(lambda: not (set(ids) & c.unanswered()), 15, c)
            res = {i: c.acked.get(i) for i in ids}
            check(all(res.values()), "PUBOK for all 1000 (missing %d, errors %r)"
                  % (sum(1 for v in res.values() if not v), dict(list(c.failed.items())[:3])))
            check(all(v and v[0] == "new" for v in res.values()), "all 1000 are 'new'")
            offs = [res[i][1] if res[i] else None for i in ids]
            check(offs == list(range(1000)), "offsets are 0..999 in publish order: %r..." % offs[:5])
            first.update(res)
            first["t0"] = t0

        def republish_dup():
            res, err = c.publish("orders", msgs[:500] + [msgs[999]])
            check(not err, "re-publish has no errors: %r" % list(err.items())[:3])
            check(len(res) == 501 and all(res[i] == ("dup", first[i][1]) for i in res),
                  "re-publish answers dup with the original offsets: %r" % list(res.items())[:3])
            t = topic_info(c, "orders")
            check(t and t["next"] == 1000 and t["count"] == 1000, "dups stored nothing: %r" % t)

        def consume_all():
            credit = 100
            c.subscribe("orders", "billing", credit)
            got, granted = {}, credit
            deadline = time.monotonic() + 20
            while len(got) < 1000 and time.monotonic() < deadline:
                batch = c.receive(1.0)
                for m in batch:
                    check(m.offset not in got, "offset %d delivered once" % m.offset)
                    got[m.offset] = m
                check(len(got) <= granted, "no more deliveries than credit (%d > %d)" % (len(got), granted))
                c.ack("orders", "billing", [m.offset for m in batch])
                if batch:
                    c.credit("orders", "billing", len(batch))
                    granted += len(batch)
            check(sorted(got) == list(range(1000)), "received offsets 0..999 (got %d)" % len(got))
            now = time.time()
            bad = []
            for off, m in got.items():
                mid, key, headers, payload = msgs[off]
                ok = (m.topic == "orders" and m.group == "billing" and m.attempt == 1 and m.id == mid
                      and m.key == key.encode() and m.headers == headers and m.payload == payload
                      and first["t0"] - 1 <= m.time_us / 1e6 <= now + 1)
                if not ok:
                    bad.append(m)
            check(not bad, "every delivery has attempt 1 and the published id/key/headers/payload/time: %r"
                  % bad[:2])
            g = wait_until(lambda: (lambda g: g if g and g["committed"] == 1000 else None)(
                group_info(c, "orders", "billing")), 5, c) or group_info(c, "orders", "billing")
            check(g and g["committed"] == 1000 and g["lag"] == 0 and g["in_flight"] == 0
                  and g["members"] == 1, "after the acks the group has committed 1000, lag 0: %r" % g)

        def nack_redelivers():
            res, _ = c.publish("orders", [("nack-me", "", {"x": "y"}, b"retry me")])
            off = res.get("nack-me", (None, None))[1]
            check(off == 1000, "one more message gets offset 1000: %r" % res)
            first_d = c.receive(5.0)
            check([(m.offset, m.attempt) for m in first_d] == [(off, 1)], "delivered once: %r" % first_d)
            c.nack("orders", "billing", "simulated failure", [off])
            c.credit("orders", "billing", 1)
            again = c.receive(5.0)
            check([(m.offset, m.attempt, m.id, m.payload) for m in again] == [(off, 2, "nack-me", b"retry me")],
                  "NACKed message redelivered with attempt 2: %r" % again)
            c.ack("orders", "billing", [off])
            c.credit("orders", "billing", 1)
            check(c.receive(1.0) == [], "no delivery after the ACK")

        def bad_input():
            c.send_raw([b"LGSP1", b"PUB", b"orders", b"only-an-id"])
            e = c.next_error(5)
            check(e[0] == 400, "PUB with a wrong frame count gets ERROR 400: %r" % (e,))
            c.send_raw([b"LGSP1", b"SUB", b".hidden", b"g", b"1"])
            e = c.next_error(5)
            check(e[0] == 400, "SUB with a bad name gets ERROR 400: %r" % (e,))
            c.send_raw([b"LGSP2", b"HELLO", b"tester", b"x"])
            e = c.next_error(5)
            check(e[0] == 505, "frame 0 LGSP2 gets ERROR 505: %r" % (e,))
            c.send_raw([b"lgsp1", b"HEARTBEAT"])
            e = c.next_error(5)
            check(e[0] == 505, "frame 0 'lgsp1' gets ERROR 505: %r" % (e,))
            c.send_raw([b"LGSP1", b"FROBNICATE", b"x"])
            e = c.next_error(5)
            check(isinstance(e[0], int) and e[0] >= 400, "an unknown command gets an ERROR: %r" % (e,))
            c.ack("orders", "nosuchgroup", [1])
            e = c.next_error(5)
            check(e[0] == 404, "ACK for an unknown subscription gets ERROR 404: %r" % (e,))
            res, err = c.publish("orders", [("bad-h", "", b"[1,2]", b"x"), ("good-h", "", None, b"x"),
                                            ("big", "", None, b"x" * (c.welcome[3] + 1))])
            check(err.get("bad-h", (0,))[0] == 400, "headers that are not a JSON object: PUBERR 400: %r" % err)
            check(err.get("big", (0,))[0] == 413, "payload over max_message_bytes: PUBERR 413: %r" % err)
            check(res.get("good-h", ("",))[0] == "new", "the valid message of that PUB is stored: %r" % res)
            res, _ = c.publish("orders", [("after-errors", "", None, b"ok")])
            check("after-errors" in res, "the session still works after bad input (never closed)")
            got = take(c, 2)
            check([m.id for m in got] == ["good-h", "after-errors"], "billing gets the 2 stored: %r" % got)
            fresh = pyclient.Client(d.endpoint, "nohello", timeout=5)
            fresh.send_raw([b"LGSP1", b"SUB", b"orders", b"g", b"1"])
            e = fresh.next_error(5)
            check(e[0] == 401, "a command before HELLO gets ERROR 401: %r" % (e,))
            fresh.close()

        def admin():
            st = c.admin("status")
            check(isinstance(st, dict) and all(k in st for k in ("version", "uptime_s", "sessions", "topics",
                                                                 "journal", "commits", "denied")),
                  "ADMIN status has the documented keys: %r" % st)
            j = st.get("journal", {})
            check(all(k in j for k in ("path", "map_bytes", "used_bytes")), "status.journal keys: %r" % j)
            check(st.get("version") == c.welcome[0] and st.get("sessions", 0) >= 1, "status values: %r" % st)
            ts = c.admin("topics")
            t = next((x for x in ts if x.get("name") == "orders"), None)
            check(isinstance(ts, list) and t is not None, "ADMIN topics lists 'orders': %r" % ts)
            t = t or {}
            check(all(k in t for k in ("first", "next", "count", "bytes", "retention", "groups")),
                  "topic entry keys: %r" % t)
            check(t.get("next") == 1003, "topics.next counts stored messages only: %r" % t.get("next"))
            try:
                c.admin("no.such.verb")
                check(False, "an unknown ADMIN verb raises LgspError")
            except pyclient.LgspError as e:
                check(e.code == 400, "unknown ADMIN verb: ERROR 400: %r" % e)
            try:
                c.admin("dlq.list", "orders")
                check(False, "dlq.list by a non-admin raises LgspError")
            except pyclient.LgspError as e:
                check(e.code == 403, "dlq.list by a non-admin: ERROR 403: %r" % e)

        def heartbeats():
            r0 = c.reconnects
            c.poll(6 * HB_MS / 1000.0)                 # idle longer than the silence limit
            c.admin("status")                          # would get ERROR 401 (-> re-HELLO) if the session ended
            check(c.reconnects == r0, "an idle but serviced session is kept alive by heartbeats")
            os.kill(d.proc.pid, signal.SIGSTOP)        # broker silent
            try:
                time.sleep(0.05)
                c.poll(7 * HB_MS / 1000.0)
                check(c.reconnects > r0, "broker silence (5 x heartbeat_ms) makes the client reconnect")
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            wait_until(lambda: c.state == "ready", 5, c)
            check(c.state == "ready", "the client has a session again after the broker answers")
            t0 = time.monotonic()
            g = wait_until(lambda: (lambda g: g if g and g["members"] == 1 else None)(
                group_info(c, "orders", "billing")), 10 * HB_MS / 1000.0, c)
            print("   old session gone from the group after %.2f s" % (time.monotonic() - t0))
            check(g, "the broker ends the silent old session within 10 x heartbeat_ms: %r"
                  % group_info(c, "orders", "billing"))
            c.publish("orders", [("after-silence", "", None, b"x")])
            got = take(c, 1)
            check([m.id for m in got] == ["after-silence"], "the subscription was renewed: %r" % got)

        def crash_restart():
            """Publish continuously across kill -9 + restart: ERROR 401 / silence -> HELLO, re-SUB,
            re-send. Every id acknowledged before the crash keeps its offset."""
            c.subscribe("orders", "billing", 10)
            ids, acked_before, n, r0 = [], {}, 0, c.reconnects
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                ids += c.publish_async("stream", [("s-%06d" % n, "", None, b"x")])
                n += 1
                c.poll(0.002)
            acked_before = {i: c.acked[i] for i in ids if i in c.acked}
            print("   %d published, %d acknowledged before kill -9" % (len(ids), len(acked_before)))
            d.kill9()
            ids += c.publish_async("stream", [("s-%06d" % k, "", None, b"x") for k in range(n, n + 200)])
            d.start()
            wait_until(lambda: not (set(ids) & c.unanswered()), 20, c)
            check(not (set(ids) & c.unanswered()), "every publish answered after the restart (%d left)"
                  % len(set(ids) & c.unanswered()))
            check(acked_before and all(c.acked.get(i) and c.acked[i][1] == v[1] for i, v in acked_before.items()),
                  "ids acknowledged before the crash keep their offsets (%d acked before)" % len(acked_before))
            offs = [c.acked[i][1] for i in ids if i in c.acked]
            check(len(offs) == len(ids) and sorted(offs) == list(range(len(ids))),
                  "%d ids stored exactly once each (offsets %d)" % (len(ids), len(set(offs))))
            check(c.reconnects > r0, "the client re-HELLOed after the restart")
            t = topic_info(c, "orders")
            check(t and t["next"] == 1004, "'orders' survived the crash: %r" % t)
            c.publish("orders", [("after-crash", "", None, b"x")])
            got = take(c, 1)
            check([m.id for m in got] == ["after-crash"], "re-SUB after the restart delivers: %r" % got)

        def unsub_and_bye():
            c.unsubscribe("orders", "billing")
            g = group_info(c, "orders", "billing")
            check(g and g["members"] == 0, "after UNSUBOK the group has no members: %r" % g)
            other = pyclient.Client(d.endpoint, "other")
            other.hello()
            s1 = c.admin("status")["sessions"]
            other.close()
            s2 = wait_until(lambda: (lambda s: s if s < s1 else 0)(c.admin("status")["sessions"]), 3, c)
            check(s2 and s2 == s1 - 1, "BYE ends the session (sessions %s -> %s)" % (s1, s2))

        for part in (welcome, publish_batches, republish_dup, consume_all, nack_redelivers, bad_input,
                     admin, heartbeats, unsub_and_bye, crash_restart):
            section(part)
        c.close()

    def curve():
        pub, sec = harness.keypair()
        stranger = harness.keypair()
        with harness.Lgspd(os.path.join(tmp, "curve"), security="curve", clients=[("svc-a", pub)],
                           heartbeat_ms=HB_MS) as d:
            c = pyclient.Client(d.endpoint, "ignored", d.server_public, pub, sec, timeout=5)
            w = c.hello()
            check(w[0], "Curve: a listed key gets WELCOME")
            res, err = c.publish("secure", [("c1", "", None, b"x")])
            check(res.get("c1") == ("new", 0), "Curve: publish works: %r %r" % (res, err))
            c.close()
            bad = pyclient.Client(d.endpoint, "x", d.server_public, stranger[0], stranger[1], timeout=2)
            try:
                refused = not bad.hello()
            except TimeoutError:
                refused = True
            check(refused, "Curve: an unlisted key gets no WELCOME")
            bad.close()
    section(curve)

    print("%d checks passed, %d failed" % (PASSED[0], len(FAILED)))
    if not FAILED:
        shutil.rmtree(tmp, ignore_errors=True)      # kept for the broker logs when something failed
    else:
        print("broker logs in", tmp)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
