"""Integration tests of lgspd: each case starts the real daemon (harness.py) and
talks to it through pyclient.py, the protocol client written from
docs/protocol.md.

    LGSPD=build/bus/lgspd python3 test_bus.py CASE     (one case; see CASES)

A case raises (exit 1) on the first check that fails; every check can fail.
"""

import os
import random
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pyclient  # noqa: E402
from pyclient import Client, LgspError  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def msgs(prefix, n, start=0, size=100, key=None):
    return [("%s-%06d" % (prefix, i), (key(i) if key else b""), None,
             (b"%s %d " % (prefix.encode(), i)).ljust(size, b"."))
            for i in range(start, start + n)]


def drain(c, topic, group, expect, timeout=20.0, ack=True, credit=None):
    """Receive until `expect` deliveries (acking them); returns them in order.
    With `credit` (what the subscription was given), credit is granted back
    only while fewer than `expect` are in hand or promised, so exactly
    `expect` arrive; without it every delivery's credit is given back."""
    got = []
    held = credit
    deadline = time.time() + timeout
    while len(got) < expect and time.time() < deadline:
        ds = c.receive(0.5)
        got += ds
        if ack and ds:
            c.ack(topic, group, [d.offset for d in ds])
            if held is None:
                c.credit(topic, group, len(ds))
            else:
                held -= len(ds)
                more = (expect - len(got)) - held
                if more > 0:
                    c.credit(topic, group, more)
                    held += more
    return got


def exit_clean(d):
    rc = d.stop()
    check(rc == 0, "lgspd exit code after SIGTERM: %r\n%s" % (rc, d.log_tail()))


# ---------------------------------------------------------------------------

def case_roundtrip():
    with harness.Lgspd(harness.workdir("roundtrip")) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        batch = msgs("rt", 5000, key=lambda i: b"k%d" % (i % 50))
        batch[0] = (batch[0][0], batch[0][1], {"source": "qn-population"}, batch[0][3])
        ok, err = p.publish("raw.demo", batch)
        check(not err and len(ok) == 5000, "all stored: %d ok, %d errors" % (len(ok), len(err)))
        check(sorted(o for _, o in ok.values()) == list(range(5000)), "offsets 0..4999")
        c = Client(d.endpoint, "con")
        c.hello()
        c.subscribe("raw.demo", "g", 500)
        got = drain(c, "raw.demo", "g", 5000)
        check(len(got) == 5000, "delivered %d of 5000" % len(got))
        by_id = {m[0]: m for m in batch}
        for dl in got:
            m = by_id[dl.id]
            check(dl.payload == m[3] and dl.key == m[1] and dl.attempt == 1, "content of %s" % dl.id)
        check(got[0].headers == {"source": "qn-population"}, "headers kept: %r" % got[0].headers)
        # Order per key.
        last = {}
        for dl in got:
            check(last.get(dl.key, -1) < dl.offset, "order of key %r" % dl.key)
            last[dl.key] = dl.offset
        time.sleep(1.2)  # metrics are rendered once a second
        check(d.metric("lgsp_messages_in_total", topic="raw.demo") == 5000, "messages_in metric")
        check(d.metric("lgsp_consumer_lag", topic="raw.demo", group="g") == 0, "lag 0 after acks")
        check(d.metric("lgsp_messages_out_total", topic="raw.demo", group="g") == 5000, "messages_out metric")
        _, text = d.http("/metrics")
        for fam in ("lgsp_commit_seconds_bucket", "lgsp_journal_file_bytes", "lgsp_denied_total"):
            check(fam in text, "metric %s present" % fam)
        status, body = d.http("/health")
        check(status == 200 and '"ok"' in body, "health: %s %s" % (status, body))
        topics = c.admin("topics")
        t = [x for x in topics if x["name"] == "raw.demo"][0]
        check(t["count"] == 5000 and t["groups"][0]["lag"] == 0, "ADMIN topics: %r" % t)
        p.close()
        c.close()
        exit_clean(d)


def case_idempotent():
    with harness.Lgspd(harness.workdir("idem")) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        ok, _ = p.publish("t", msgs("id", 100))
        ok2, _ = p.publish("t", msgs("id", 100))
        check(all(ok2[i] == ("dup", ok[i][1]) for i in ok), "re-publish answered dup with the stored offsets")
        d.stop()
        d.start()
        p = Client(d.endpoint, "pub")
        p.hello()
        ok3, _ = p.publish("t", msgs("id", 150))
        check(sum(1 for v in ok3.values() if v[0] == "dup") == 100, "dups survive a restart")
        check(sorted(v[1] for v in ok3.values() if v[0] == "new") == list(range(100, 150)), "new ones appended")
        check(p.admin("topics")[0]["count"] == 150, "150 stored, not 250")
        exit_clean(d)


def case_redelivery():
    defaults = {"visibility_timeout": "1500ms", "max_attempts": 10}
    with harness.Lgspd(harness.workdir("redeliver"), defaults=defaults, heartbeat_ms=300) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        p.publish("jobs", msgs("job", 20))
        # A consumer takes 10 and dies without acking (no BYE: its heartbeats stop).
        a = Client(d.endpoint, "worker-a")
        a.hello()
        a.subscribe("jobs", "workers", 10)
        taken = drain(a, "jobs", "workers", 10, ack=False)
        check(len(taken) == 10, "a got 10")
        a.sock.close(linger=0)
        b = Client(d.endpoint, "worker-b")
        b.hello()
        b.subscribe("jobs", "workers", 100)
        got = drain(b, "jobs", "workers", 20, timeout=15)
        check(sorted(x.offset for x in got) == list(range(20)), "b got all 20: %r" % sorted(x.offset for x in got))
        check(all(x.attempt == 2 for x in got if x.offset in {t.offset for t in taken}),
              "the 10 taken by a come again as attempt 2")
        # Visibility timeout: a live consumer that never acks gets it again.
        p.publish("jobs", msgs("late", 1))
        first = drain(b, "jobs", "workers", 1, ack=False)
        check(len(first) == 1 and first[0].attempt == 1, "delivered once")
        b.credit("jobs", "workers", 1)
        again = drain(b, "jobs", "workers", 1, ack=False, timeout=5)
        check(len(again) == 1 and again[0].offset == first[0].offset and again[0].attempt == 2,
              "redelivered after the visibility timeout: %r" % again)
        exit_clean(d)


def case_dead_letter():
    defaults = {"max_attempts": 3}
    with harness.Lgspd(harness.workdir("dlq"), defaults=defaults) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        p.publish("canon", [("good-1", b"", None, b"fine"), ("poison", b"", {"source": "qn"}, b"bad date"),
                            ("good-2", b"", None, b"fine")])
        c = Client(d.endpoint, "mapper")
        c.hello()
        c.subscribe("canon", "mapper", 10)
        other = Client(d.endpoint, "archiver")
        other.hello()
        other.subscribe("canon", "archive", 10)
        check(len(drain(other, "canon", "archive", 3)) == 3, "the other group gets all 3")
        attempts = []
        deadline = time.time() + 15
        while time.time() < deadline and len(attempts) < 3:
            for dl in c.receive(0.5):
                c.credit("canon", "mapper", 1)
                if dl.id == "poison":
                    attempts.append(dl.attempt)
                    c.nack("canon", "mapper", "date 31/02/1990 is invalid", [dl.offset])
                else:
                    c.ack("canon", "mapper", [dl.offset])
        check(attempts == [1, 2, 3], "poison delivered 3 times: %r" % attempts)
        time.sleep(0.5)
        check(c.receive(1.0) == [], "not delivered a 4th time")
        dl = c.admin("dlq.list", "canon")
        check(len(dl) == 1 and dl[0]["id"] == "poison" and dl[0]["reason"] == "date 31/02/1990 is invalid"
              and dl[0]["attempts"] == 3 and dl[0]["group"] == "mapper", "dead letter listed: %r" % dl)
        shown = c.admin("dlq.show", "canon", dl[0]["offset"])
        check(shown["headers"].get("source") == "qn" and shown["headers"].get("lgsp-dlq-topic") == "canon",
              "headers kept with the reason: %r" % shown["headers"])
        topics = {t["name"]: t for t in c.admin("topics")}
        check(topics["canon"]["groups"][0]["lag"] == 0 or any(g["lag"] == 0 for g in topics["canon"]["groups"]),
              "group moved past the poison message")
        # Replay after a fix: back to the mapper group only.
        r = c.admin("dlq.replay", "canon", dl[0]["offset"])
        check(r == {"replayed": 1}, "replay answer %r" % r)
        back = drain(c, "canon", "mapper", 1, timeout=5)
        check(len(back) == 1 and back[0].payload == b"bad date" and back[0].attempt == 1,
              "replayed message delivered to its group: %r" % back)
        check(other.receive(1.0) == [], "not to the group that had processed it")
        check(c.admin("dlq.list", "canon") == [], "dead-letter topic empty after replay")
        # Purge.
        p.publish("canon", [("poison-2", b"", None, b"bad")])
        for _ in range(3):
            for x in drain(c, "canon", "mapper", 1, ack=False, timeout=5):
                c.nack("canon", "mapper", "still bad", [x.offset])
                c.credit("canon", "mapper", 1)
        time.sleep(0.5)
        check(len(c.admin("dlq.list", "canon")) == 1, "second dead letter")
        check(c.admin("dlq.purge", "canon", "all") == {"purged": 1}, "purged")
        check(c.admin("dlq.list", "canon") == [], "empty after purge")
        exit_clean(d)


def case_restart_offsets():
    with harness.Lgspd(harness.workdir("offsets")) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        p.publish("t", msgs("m", 1000))
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("t", "g", 400)
        first = drain(c, "t", "g", 400, credit=400)
        check(len(first) == 400, "first 400: got %d" % len(first))
        time.sleep(0.2)
        exit_clean(d)
        d.start()
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("t", "g", 1000)
        rest = drain(c, "t", "g", 600)
        extra = c.receive(1.0)
        offs = sorted(x.offset for x in first) + sorted(x.offset for x in rest + extra)
        check(offs == list(range(1000)), "each offset exactly once across a clean restart (%d, extra %d)"
              % (len(offs), len(extra)))
        # kill -9: the group resumes at its last committed offset (at least once).
        p = Client(d.endpoint, "pub")
        p.hello()
        p.publish("t", msgs("n", 500))
        got = drain(c, "t", "g", 200)
        time.sleep(0.3)   # let the acks be committed
        d.kill9()
        d.start()
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("t", "g", 1000)
        after = drain(c, "t", "g", 300, timeout=10) + c.receive(1.0)
        seen = {x.offset for x in got} | {x.offset for x in after}
        check(seen >= set(range(1000, 1500)), "nothing skipped after kill -9")
        check(len(after) < 400, "resumed near where it stopped, not from the start (%d redelivered)" % len(after))
        exit_clean(d)


def case_kill9_publish():
    """kill -9 during a 100k publish loses no acknowledged message."""
    n = int(os.environ.get("LGSP_KILL9_N", "100000"))
    with harness.Lgspd(harness.workdir("kill9")) as d:
        p = Client(d.endpoint, "pub", timeout=30.0)
        p.hello()
        all_msgs = msgs("k9", n, size=200)
        p.publish_async("ingest", all_msgs)
        acked = set()
        kills = 0
        deadline = time.time() + 240
        next_kill = time.time() + random.uniform(0.3, 1.5)
        while (p.unanswered() or len(acked) < n) and time.time() < deadline:
            ok, err = p.poll(0.05)
            check(not err, "no publish errors: %r" % list(err.items())[:3])
            acked.update(ok)
            # Kill only while messages are still unacknowledged: after a restart the
            # backlog may drain before the next kill is due, which is fine.
            if kills < 3 and time.time() > next_kill and len(acked) < n:
                d.kill9()
                kills += 1
                d.start()
                next_kill = time.time() + random.uniform(0.5, 2.0)
        check(len(acked) == n, "all %d eventually acknowledged (%d)" % (n, len(acked)))
        check(kills >= 1, "lgspd was killed while publishing (raise LGSP_KILL9_N if it finished first)")
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("ingest", "verify", 5000)
        got = drain(c, "ingest", "verify", n, timeout=120)
        ids = [x.id for x in got]
        check(set(ids) == acked, "every acknowledged message is in the journal (%d of %d)" % (len(set(ids) & acked), n))
        check(len(ids) == len(set(ids)), "and none twice (%d deliveries, %d ids)" % (len(ids), len(set(ids))))
        print("kill9: %d messages, %d kills, %d reconnects" % (n, kills, p.reconnects))
        exit_clean(d)


def _fill_until_full(d, topic, size=4000, limit=200000):
    p = Client(d.endpoint, "pub", timeout=30.0)
    p.hello()
    stored, errors, i = set(), {}, 0
    while not errors and i < limit:
        ok, errors = p.publish(topic, msgs("f", 200, start=i, size=size))
        stored.update(k for k, v in ok.items() if v[0] == "new")
        i += 200
    return p, stored, errors


def case_journal_full():
    with harness.Lgspd(harness.workdir("mapfull"), map_size="16MiB") as d:
        p, stored, errors = _fill_until_full(d, "fill")
        check(errors, "publishing stops with an error")
        code, text = next(iter(errors.values()))
        check(code == 507 and "full" in text, "507 journal full: %r %r" % (code, text))
        check(stored, "something was stored first")
        # Consumers still make progress in the reserve; health says degraded.
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("fill", "g", 1000)
        got = drain(c, "fill", "g", len(stored), timeout=30)
        check({x.id for x in got} == stored, "every stored message readable while full")
        exit_clean(d)
        d.start()
        c = Client(d.endpoint, "c")
        c.hello()
        check(c.admin("topics")[0]["count"] == len(stored), "intact after restart")
        exit_clean(d)


def case_disk_full():
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: writes fail with EFBIG."""
    work = harness.workdir("diskfull")
    d = harness.Lgspd(work, map_size="256MiB")
    limit = 12 << 20

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    d.write_config()
    log = open(d.log_path, "ab")
    d.proc = subprocess.Popen([harness.find_lgspd(), "-c", d.config_path, "--ready-file", d.ready_path],
                              stdout=log, stderr=log, preexec_fn=small_disk)
    for _ in range(500):
        if os.path.exists(d.ready_path):
            break
        time.sleep(0.02)
    import json
    ready = json.load(open(d.ready_path))
    d.endpoint, d.http_port = ready["bus"], ready["http"]
    d.bus_port = int(d.endpoint.rsplit(":", 1)[1])
    try:
        p, stored, errors = _fill_until_full(d, "fill")
        check(errors, "publishing stops with an error")
        code, text = next(iter(errors.values()))
        check(code == 507, "507 on a full disk: %r %r" % (code, text))
        check(d.alive(), "lgspd still running")
        time.sleep(1.2)
        status, body = d.http("/health")
        check("degraded" in body or "ok" in body, "health answers: %s" % body)
        exit_clean(d)
    finally:
        d.kill9()
    d.start()   # without the limit
    c = Client(d.endpoint, "c")
    c.hello()
    c.subscribe("fill", "g", 1000)
    got = drain(c, "fill", "g", len(stored), timeout=30)
    check({x.id for x in got} >= stored, "every acknowledged message intact after the full disk")
    exit_clean(d)


def case_curve():
    pub_k, sub_k, ops_k, intruder = harness.keypair(), harness.keypair(), harness.keypair(), harness.keypair()
    rules = [{"pattern": "raw.*", "publish": ["qn-population"], "subscribe": ["mapper"]}]
    defaults = {"publish": ["ops"], "subscribe": ["ops"]}
    with harness.Lgspd(harness.workdir("curve"), security="curve",
                       clients=[("qn-population", pub_k[0]), ("mapper", sub_k[0]), ("ops", ops_k[0])],
                       defaults=defaults, rules=rules) as d:
        p = Client(d.endpoint, "ignored", server_key=d.server_public, public_key=pub_k[0], secret_key=pub_k[1])
        p.hello()
        ok, err = p.publish("raw.qn", msgs("c", 10))
        check(len(ok) == 10, "allowed publish over Curve")
        ok, err = p.publish("canon.person", msgs("x", 1))
        check(err and list(err.values())[0][0] == 403, "denied topic: %r" % err)
        s = Client(d.endpoint, "mapper", server_key=d.server_public, public_key=sub_k[0], secret_key=sub_k[1])
        s.hello()
        s.subscribe("raw.qn", "mapper", 100)
        check(len(drain(s, "raw.qn", "mapper", 10)) == 10, "allowed subscriber receives")
        ok, err = s.publish("raw.qn", msgs("y", 1))
        check(err and list(err.values())[0][0] == 403, "subscriber may not publish")
        bad = Client(d.endpoint, "intruder", server_key=d.server_public, public_key=intruder[0],
                     secret_key=intruder[1], timeout=2.0)
        try:
            bad.hello()
            check(False, "an unknown key got a session")
        except Exception:
            pass
        time.sleep(1.2)
        check(d.metric("lgsp_denied_total", kind="curve_key") >= 1, "refused key counted")
        check(d.metric("lgsp_denied_total", kind="publish") == 2, "denied publishes counted")
        plain = Client(d.endpoint, "plain", timeout=2.0)   # no Curve at all
        try:
            plain.hello()
            check(False, "a plain client got a session on a Curve broker")
        except Exception:
            pass
        exit_clean(d)


def case_backpressure():
    rules = [{"pattern": "slow", "max_lag": 2000}]
    with harness.Lgspd(harness.workdir("bp"), rules=rules, bus={"pub_window": 500}) as d:
        c = Client(d.endpoint, "slow-consumer")
        c.hello()
        c.subscribe("slow", "g", 50)
        n = 20000
        p = Client(d.endpoint, "fast-publisher", timeout=60.0)
        p.hello()
        p.publish_async("slow", msgs("bp", n, size=1000))
        acked, consumed, max_lag = 0, 0, 0
        rss0 = d.rss_kib()
        t0 = time.time()
        while consumed < n and time.time() - t0 < 120:
            ok, err = p.poll(0.0)
            check(not err, "no errors: %r" % list(err.items())[:2])
            acked += len(ok)
            ds = c.receive(0.01)
            if ds:
                c.ack("slow", "g", [x.offset for x in ds])
                c.credit("slow", "g", len(ds))
                consumed += len(ds)
            lag = acked - consumed
            max_lag = max(max_lag, lag)
            time.sleep(0.002)   # a consumer slower than the publisher
        check(consumed == n, "all consumed (%d)" % consumed)
        check(max_lag <= 2000 + 500 + 50 + 1000, "publisher held near the consumer: max lag %d" % max_lag)
        growth = d.rss_kib() - rss0
        print("backpressure: max lag %d, RSS growth %d KiB" % (max_lag, growth))
        exit_clean(d)


def case_reload():
    rules = [{"pattern": "hr.*", "publish": ["*"]}]
    with harness.Lgspd(harness.workdir("reload"), rules=rules) as d:
        p = Client(d.endpoint, "clerk")
        p.hello()
        ok, err = p.publish("hr.events", msgs("a", 1))
        check(ok and not err, "allowed before reload")
        d.rules = [{"pattern": "hr.*", "publish": ["registrar"]}]
        d.reload()
        time.sleep(0.5)
        ok, err = p.publish("hr.events", msgs("b", 1))
        check(err and list(err.values())[0][0] == 403, "denied after SIGHUP: %r %r" % (ok, err))
        # A broken file is refused and the running config kept.
        with open(d.config_path, "a") as f:
            f.write("bus:\n  no_such_setting: 1\n")
        d.proc.send_signal(1)
        time.sleep(0.5)
        check(d.alive(), "still running after a bad reload")
        check("reload refused" in d.log_tail(), "the refusal is logged:\n" + d.log_tail())
        exit_clean(d)


def case_bad_input():
    with harness.Lgspd(harness.workdir("badinput")) as d:
        c = Client(d.endpoint, "fuzzer")
        c.hello()
        rnd = random.Random(7)
        for i in range(2000):
            frames = [b"LGSP1", rnd.choice([b"PUB", b"SUB", b"ACK", b"NACK", b"CREDIT", b"ADMIN", b"UNSUB", b"X"])]
            frames += [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40))) for _ in range(rnd.randint(0, 9))]
            c.send_raw(frames)
        c.send_raw([b"LGSP1", b"PUB", b"t", b"i" * 200, b"", b"", b"x"])
        time.sleep(1.0)
        check(d.alive(), "survives 2000 random commands")
        c2 = Client(d.endpoint, "after")
        c2.hello()
        ok, err = c2.publish("t", msgs("ok", 1))
        check(ok, "still serves")
        exit_clean(d)


def _cli(d, *args, stdin=None, key=None):
    cmd = [harness.find_lgsp(), "-e", d.endpoint] + list(args)
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def case_cli():
    """The lgsp CLI against the real broker, under Curve: keygen, publish, consume, topics, status, dlq."""
    work = harness.workdir("cli")
    keys = {}
    for name in ("loader", "ops"):
        rc, out, err = subprocess.run([harness.find_lgsp(), "keygen", "--out", os.path.join(work, name)],
                                      capture_output=True, text=True).returncode, None, None
        check(rc == 0, "keygen")
        keys[name] = open(os.path.join(work, name + ".pub")).read().split()[0]
        check(oct(os.stat(os.path.join(work, name + ".key")).st_mode & 0o777) == "0o600", "secret key mode 0600")
    d = harness.Lgspd(work, security="curve", clients=[("loader", keys["loader"]), ("ops", keys["ops"])],
                      admins=["ops"], defaults={"max_attempts": 2, "publish": ["loader", "ops"],
                                                "subscribe": ["ops"]})
    with d:
        srv = os.path.join(work, "server.pub")
        with open(srv, "w") as f:
            f.write(d.server_public + "\n")

        def as_(who):
            return ["-s", srv, "-k", os.path.join(work, who + ".key"), "-n", who]
        lines = "".join('{"n": %d}\n' % i for i in range(1000)).encode()
        rc, out, err = _cli(d, *as_("loader"), "publish", "cli.t", "--id-prefix", "run1", stdin=lines)
        check(rc == 0 and "new 1000" in err, "publish 1000: rc %d %s" % (rc, err))
        rc, out, err = _cli(d, *as_("loader"), "publish", "cli.t", "--id-prefix", "run1", stdin=lines)
        check(rc == 0 and "dup 1000" in err, "same ids again are dups: %s" % err)
        rc, out, err = _cli(d, *as_("loader"), "consume", "cli.t", "--group", "g", "--count", "1", "-t", "2000")
        check(rc == 5, "loader may not subscribe: rc %d %s" % (rc, err))
        rc, out, err = _cli(d, *as_("ops"), "consume", "cli.t", "--group", "g", "--count", "1000", "-t", "5000")
        check(rc == 0 and out.count("\n") == 1000 and '{"n": 999}' in out, "consume 1000: rc %d" % rc)
        rc, out, err = _cli(d, *as_("ops"), "consume", "cli.t", "--group", "g", "--count", "1", "-t", "1000")
        check(rc == 4, "nothing left: exit 4, got %d" % rc)
        rc, out, err = _cli(d, *as_("ops"), "topics", "--json")
        t = [x for x in __import__("json").loads(out) if x["name"] == "cli.t"][0]
        check(t["count"] == 1000 and t["groups"][0]["lag"] == 0, "topics --json: %r" % t)
        rc, out, err = _cli(d, *as_("ops"), "status")
        check(rc == 0 and "0.1" in out, "status: %s" % out)
        # A poison line: nacked until it is dead-lettered, then replayed.
        rc, _, _ = _cli(d, *as_("loader"), "publish", "cli.p", "--id-prefix", "p", stdin=b"poison\n")
        # One consumer rejects both attempts (a NACKed message comes straight
        # back to a session that still has credit).
        rc, out, err = _cli(d, *as_("ops"), "consume", "cli.p", "--group", "m", "--count", "2",
                            "-t", "3000", "--nack-reason", "cannot parse")
        check(rc == 0 and out == "poison\npoison\n", "both attempts rejected: rc %d %r %s" % (rc, out, err))
        time.sleep(0.3)
        rc, out, err = _cli(d, *as_("ops"), "dlq", "list", "cli.p", "--json")
        dl = __import__("json").loads(out)
        check(rc == 0 and len(dl) == 1 and dl[0]["reason"] == "cannot parse", "dlq list: %s %s" % (out, err))
        rc, out, err = _cli(d, *as_("loader"), "dlq", "list", "cli.p")
        check(rc == 5, "dlq needs an admin: rc %d" % rc)
        rc, out, err = _cli(d, *as_("ops"), "dlq", "replay", "cli.p", str(dl[0]["offset"]))
        check(rc == 0, "replay: %s" % err)
        rc, out, err = _cli(d, *as_("ops"), "consume", "cli.p", "--group", "m", "--count", "1", "-t", "3000")
        check(rc == 0 and out == "poison\n", "replayed line consumed: %r" % out)
        rc, out, err = _cli(d, "-t", "1500", "-n", "nobody", "status")
        check(rc == 1, "a plain client cannot reach a Curve broker: rc %d" % rc)
        exit_clean(d)


def case_retention():
    rules = [{"pattern": "short.*", "retention": {"max_age": "1s", "protect_unacked": True}},
             {"pattern": "sized", "retention": {"max_bytes": "64KiB", "protect_unacked": False}}]
    with harness.Lgspd(harness.workdir("retention"), rules=rules, journal={"retention_interval": "200ms"}) as d:
        p = Client(d.endpoint, "pub")
        p.hello()
        p.publish("short.kept", msgs("k", 100))
        p.publish("short.gone", msgs("g", 100))
        c = Client(d.endpoint, "c")
        c.hello()
        c.subscribe("short.kept", "slow", 0)      # a group that has read nothing
        p.publish("sized", msgs("s", 1000, size=1000))
        time.sleep(2.0)
        t = {x["name"]: x for x in p.admin("topics")}
        check(t["short.gone"]["count"] == 0, "aged out: %r" % t["short.gone"])
        check(t["short.kept"]["count"] == 100, "kept for the group that has not acked: %r" % t["short.kept"])
        check(t["sized"]["bytes"] <= 64 * 1024 and t["sized"]["count"] > 0 and t["sized"]["first"] > 0,
              "trimmed to the size limit: %r" % t["sized"])
        # Ids of aged-out messages are forgotten: publishing them again stores them.
        ok, _ = p.publish("short.gone", msgs("g", 1))
        check(list(ok.values())[0][0] == "new", "id free again after retention")
        exit_clean(d)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: test_bus.py CASE   (%s)" % ", ".join(sorted(CASES)))
        sys.exit(2)
    t = time.time()
    CASES[sys.argv[1]]()
    print("%s: ok (%.1f s)" % (sys.argv[1], time.time() - t))
