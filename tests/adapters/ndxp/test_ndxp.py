"""test_ndxp.py — the NDXP connector (adapters/ndxp) inside the real lgspd,
forwarding to the NDXP simulator (lgsp-ndxp-sim) over mutual TLS with JWS
signatures the simulator verifies.

    python3 test_ndxp.py basic | wrong_ca | reject_replay | kill9 [--records N] [--outage S]

basic          records published to canonical.person reach NDXP once each, signed by the
               province (message id, payload sha256, sender, type checked), the backlog drains,
               /health and /metrics show the connector.
wrong_ca       a connector pinning another CA refuses the simulator's certificate, and NDXP
               refuses a client certificate of another CA (403): nothing is stored or
               dead-lettered, the error is on /health and in the log, the backlog is kept and
               delivered once the configuration is right.
reject_replay  records NDXP rejects (4xx) go to canonical.person.dlq at once (first attempt)
               with NDXP's answer as the reason; after the fix, `lgsp dlq replay --all` sends
               them again and NDXP accepts them.
kill9          the issue's test: N records (default 100000) forwarded while lgspd is killed with
               -9 at random points and NDXP has an outage (default 20 s here; --outage 300 for
               the full version) with lost acknowledgements, dropped connections and a few
               rejections: at the end NDXP holds every record exactly once (ids and payload
               sha256 against what was published), the backlog is drained, the rejected ones
               were in the DLQ and, replayed after the fault is cleared, are accepted.
"""

import json
import os
import random
import subprocess
import sys
import time

import harness
import pyclient
import ndxputil
from ndxputil import Sim, make_certs, sink_adapter, sha256_hex

TOPIC = "canonical.person"


def fail(msg, d=None, sim=None):
    print("FAIL:", msg)
    if d:
        print("--- lgspd log ---\n" + d.log_tail(60))
    if sim:
        print("--- simulator log ---\n" + sim.log_tail(30))
    sys.exit(1)


def records(n, start=0, prefix="p"):
    """n canonical-looking person records (synthetic: no real names or ids)."""
    out = []
    for i in range(start, start + n):
        payload = json.dumps({"person_id": "%s-%06d" % (prefix, i), "full_name": "Test Person %d" % i,
                              "birth_date": "1990-01-%02d" % (i % 28 + 1), "commune_code": "20194"},
                             separators=(",", ":"))
        out.append(("%s:%06d" % (prefix, i), "%s-%06d" % (prefix, i),
                    None, payload))
    return out


def publish(d, msgs, name="publisher"):
    with pyclient.Client(d.endpoint, name) as c:
        c.hello()
        for i in range(0, len(msgs), 5000):
            res, err = c.publish(TOPIC, msgs[i:i + 5000], timeout=120)
            if err:
                raise RuntimeError("publish errors: %r" % list(err.items())[:3])


def group_lag(d, group="ndxp"):
    _, text = d.http("/health")
    try:
        h = json.loads(text)
    except ValueError:
        return None
    out = subprocess.run([harness.find_lgsp(), "-e", d.endpoint, "topics", "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    for t in json.loads(out.stdout):
        if t["name"] == TOPIC:
            for g in t["groups"]:
                if g["name"] == group:
                    return g["lag"]
    return None


def wait_for(cond, timeout, what, d=None, sim=None, step=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    fail("timed out waiting for " + what, d, sim)


def lgsp(d, *args):
    return subprocess.run([harness.find_lgsp(), "-e", d.endpoint] + list(args), capture_output=True, text=True)


def dlq_entries(d):
    out = lgsp(d, "dlq", "list", TOPIC, "--limit", "100000", "--json")
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def check_store(sim, published, d=None):
    """Every published record in NDXP exactly once with its payload: ([missing], [dups], [bad sha])."""
    got = sim.messages()
    seen = {}
    dups = []
    for m in got:
        if m["message_id"] in seen:
            dups.append(m["message_id"])
        seen[m["message_id"]] = m
    missing = [mid for mid in published if mid not in seen]
    bad = [mid for mid, m in seen.items() if mid in published and m["sha256"] != published[mid]]
    extra = [mid for mid in seen if mid not in published]
    if extra:
        fail("NDXP holds messages never published: %r" % extra[:5], d, sim)
    for m in got:
        if m["sender"] != ndxputil.SENDER or m["message_type"] != TOPIC:
            fail("stored with sender %r type %r" % (m["sender"], m["message_type"]), d, sim)
    return missing, dups, bad


def finish(d, sim=None):
    """Stops lgspd: a clean exit (0), no sanitizer report in its log."""
    rc = d.stop()
    log = d.log_tail(100000)
    if rc != 0 or "Sanitizer" in log or "runtime error:" in log:
        fail("lgspd exited with %r or a sanitizer spoke" % rc, d, sim)


def lgspd(w, adapters, **kw):
    return harness.Lgspd(w, adapters=adapters, **kw)


# ---------------------------------------------------------------------------

def t_basic():
    w = harness.workdir("ndxp-basic")
    certs = make_certs(os.path.join(w, "certs"))
    with Sim(w, certs) as sim:
        with lgspd(w, [sink_adapter(sim, certs, TOPIC, batch_max=50)]) as d:
            msgs = records(600)
            publish(d, msgs)
            published = {m[0]: sha256_hex(m[3]) for m in msgs}
            wait_for(lambda: group_lag(d) == 0, 60, "the backlog to drain", d, sim)
            missing, dups, bad = check_store(sim, published, d)
            if missing or dups or bad:
                fail("missing %d dups %d bad sha %d" % (len(missing), len(dups), len(bad)), d, sim)
            st = sim.stats()
            print("simulator stats:", json.dumps(st)[:300])
            # /health and /metrics are rendered about once a second: wait for them.
            def health_ok():
                h = json.loads(d.http("/health")[1])
                ad = [json.dumps(a) for a in h.get("adapters", []) if a.get("name") == "ndxp"]
                return ad and "breaker closed" in ad[0] and "600 accepted" in ad[0]
            wait_for(health_ok, 15, "/health to show the connector: %s" % d.http("/health")[1][:600], d, sim)
            wait_for(lambda: d.metric("lgsp_adapter_accepted_total", adapter="ndxp") == 600, 15,
                     "lgsp_adapter_accepted_total = 600", d, sim)
            # Published again (same ids): the journal keeps them once, nothing new at NDXP.
            publish(d, msgs[:10])
            time.sleep(1)
            if len(sim.messages()) != 600:
                fail("a republished record reached NDXP twice", d, sim)
            finish(d, sim)
    print("basic: 600 records forwarded once each over mTLS, signatures verified")


def t_wrong_ca():
    w = harness.workdir("ndxp-wrong-ca")
    certs = make_certs(os.path.join(w, "certs"))
    other = make_certs(os.path.join(w, "other"))
    with Sim(w, certs) as sim:
        bad = sink_adapter(sim, certs, TOPIC, backoff="50ms", backoff_max="500ms")
        bad["settings"]["ca"] = other["ca.pem"]   # pins a CA that did not issue the server's certificate
        with lgspd(w, [bad]) as d:
            publish(d, records(20))
            time.sleep(4)
            st = sim.stats()
            if sim.messages():
                fail("a connector with the wrong CA delivered something", d, sim)
            if dlq_entries(d):
                fail("messages dead-lettered on a TLS failure", d, sim)
            lag = group_lag(d)
            if lag != 20:
                fail("backlog %r, expected the 20 records kept" % lag, d, sim)
            _, health = d.http("/health")
            if "certificate" not in health.lower() and "ssl" not in health.lower():
                fail("/health does not say why: %s" % health[:800], d, sim)
            print("simulator stats:", json.dumps(st)[:200])
            finish(d, sim)
        # A client certificate from another CA: NDXP refuses it (403), the records stay.
        bad = sink_adapter(sim, certs, TOPIC, backoff="50ms", backoff_max="500ms")
        bad["settings"]["cert"], bad["settings"]["key"] = other["client.pem"], other["client.key"]
        with lgspd(w, [bad]) as d:
            time.sleep(3)
            if sim.messages() or dlq_entries(d) or group_lag(d) != 20:
                fail("a refused client certificate: stored %d, dlq %r, backlog %r"
                     % (len(sim.messages()), dlq_entries(d), group_lag(d)), d, sim)
            if "403" not in d.log_tail(200):
                fail("the 403 is not logged", d, sim)
            finish(d, sim)
        # The fix: the right CA; the kept backlog goes through.
        with lgspd(w, [sink_adapter(sim, certs, TOPIC)]) as d:
            wait_for(lambda: len(sim.messages()) == 20, 60, "the kept records after the fix", d, sim)
            finish(d, sim)
    print("wrong_ca: refused, nothing sent or dead-lettered; delivered after the fix")


def t_reject_replay():
    w = harness.workdir("ndxp-reject")
    certs = make_certs(os.path.join(w, "certs"))
    with Sim(w, certs) as sim:
        # max_attempts 5: a plain NACK would take 5 deliveries; REJECT must dead-letter at once.
        with lgspd(w, [sink_adapter(sim, certs, TOPIC)], defaults={"max_attempts": 5}) as d:
            sim.fault(kind="reject", rate=1.0)
            bad = records(30, prefix="r")
            publish(d, bad)
            entries = wait_for(lambda: (lambda e: e if e and len(e) == 30 else None)(dlq_entries(d)),
                               60, "30 dead letters", d, sim)
            for e in entries:
                if e["attempts"] != 1 or "NDXP rejected: 422" not in e["reason"] or "inject" not in e["reason"]:
                    fail("dead letter %r" % e, d, sim)
            if sim.messages():
                fail("NDXP stored rejected messages", d, sim)
            if group_lag(d) != 0:
                fail("rejected records still in the backlog", d, sim)
            # The fix (the fault cleared), then the replay: accepted.
            sim.fault(kind="none")
            good = records(10, prefix="g")
            publish(d, good)
            out = lgsp(d, "dlq", "replay", TOPIC, "--all")
            if out.returncode != 0:
                fail("dlq replay: %s %s" % (out.stdout, out.stderr), d, sim)
            published = {m[0]: sha256_hex(m[3]) for m in bad + good}
            wait_for(lambda: len(sim.messages()) >= 40, 60, "the replayed records at NDXP", d, sim)
            missing, dups, badsha = check_store(sim, published, d)
            if missing or dups or badsha:
                fail("after replay: missing %d dups %d bad %d" % (len(missing), len(dups), len(badsha)), d, sim)
            if dlq_entries(d):
                fail("dead letters left after the replay", d, sim)
            finish(d, sim)
    print("reject_replay: 30 rejected -> DLQ at the first attempt with NDXP's reason; replayed and accepted")


def t_kill9(n=100000, outage=20, seed=None):
    seed = seed if seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    print("kill9: %d records, outage %d s, seed %d" % (n, outage, seed))
    w = harness.workdir("ndxp-kill9")
    certs = make_certs(os.path.join(w, "certs"))
    t0 = time.monotonic()
    with Sim(w, certs) as sim:
        sim.fault(kind="lost_ack", rate=0.05)
        sim.fault(kind="drop", rate=0.03)
        sim.fault(kind="reject", rate=0.0005)
        adapters = [sink_adapter(sim, certs, TOPIC, batch_max=250, max_in_flight=4)]
        # A visibility timeout well below the outage and few attempts: the sink keeps its
        # messages through the outage (TOUCH), or they would be dead-lettered here.
        d = lgspd(w, adapters, map_size="2GiB", defaults={"visibility_timeout": "3s", "max_attempts": 3})
        d.start()
        kills = 0
        try:
            msgs = records(n)
            published = {m[0]: sha256_hex(m[3]) for m in msgs}
            half = n // 2
            publish(d, msgs[:half])

            def kill_now():
                nonlocal kills
                print("  kill -9 #%d at %.1f s: NDXP holds %d" % (kills + 1, time.monotonic() - t0,
                                                               sim.stats().get("stored", 0)), flush=True)
                d.kill9()
                kills += 1
                d.start()

            # Forwarding runs; kills at random points of it.
            time.sleep(rnd.uniform(0.5, 3.0))
            kill_now()
            publish(d, msgs[half:])
            time.sleep(rnd.uniform(0.5, 3.0))
            kill_now()
            # The outage with a kill inside it; lost acks and drops around it.
            out_start = time.monotonic()
            sim.fault(kind="outage", seconds=outage)
            time.sleep(rnd.uniform(1.0, max(1.5, outage * 0.6)))
            kill_now()
            time.sleep(max(0.0, out_start + outage - time.monotonic()))
            print("  outage over at %.1f s: NDXP holds %d of %d" % (time.monotonic() - t0, sim.stats().get("stored", 0), n),
                  flush=True)
            # After the outage: a kill while the backlog drains.
            time.sleep(rnd.uniform(0.5, 2.0))
            kill_now()
            wait_for(lambda: group_lag(d) == 0, 900, "the backlog to drain", d, sim, step=1.0)
            entries = dlq_entries(d) or []
            rejected = {e["id"] for e in entries}
            for e in entries:
                if "NDXP rejected" not in e["reason"]:
                    fail("dead letter not from an NDXP rejection: %r" % e, d, sim)
            missing, dups, bad = check_store(sim, published, d)
            if dups or bad:
                fail("NDXP holds %d duplicates, %d wrong payloads: %r" % (len(dups), len(bad), (dups + bad)[:5]),
                     d, sim)
            if set(missing) != rejected:
                fail("missing at NDXP and not dead-lettered: %r; dead-lettered yet stored: %r"
                     % (sorted(set(missing) - rejected)[:5], sorted(rejected - set(missing))[:5]), d, sim)
            st = sim.stats()
            print("after %d kills: %d stored, %d dead-lettered (rejected), simulator: %s"
                  % (kills, n - len(missing), len(rejected), json.dumps(st)[:400]))
            # The fix, then the replay: every record exactly once.
            sim.fault(kind="none")
            if rejected:
                out = lgsp(d, "dlq", "replay", TOPIC, "--all")
                if out.returncode != 0:
                    fail("dlq replay: %s" % out.stderr, d, sim)
                wait_for(lambda: len(sim.messages()) >= n, 120, "the replayed records", d, sim)
            wait_for(lambda: group_lag(d) == 0, 120, "the replay to drain", d, sim)
            missing, dups, bad = check_store(sim, published, d)
            if missing or dups or bad:
                fail("final: missing %d dups %d bad %d" % (len(missing), len(dups), len(bad)), d, sim)
            finish(d, sim)
        finally:
            d.stop()
            d.kill9()
    print("kill9: %d records exactly once at NDXP through %d kill -9, a %d s outage, lost acks and drops; "
          "%d rejected replayed (%.0f s)" % (n, kills, outage, len(rejected), time.monotonic() - t0))
    import shutil
    shutil.rmtree(w, ignore_errors=True)   # ~70 MB of journal and store; kept when the test fails


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "basic"
    args = sys.argv[2:]
    opts = {}
    while args:
        k = args.pop(0)
        if k in ("--records", "--outage", "--seed"):
            opts[k[2:]] = int(args.pop(0))
        else:
            print("unknown option", k)
            sys.exit(2)
    if name == "kill9":
        t_kill9(n=opts.get("records", int(os.environ.get("NDXP_TEST_RECORDS", 100000))),
                outage=opts.get("outage", int(os.environ.get("NDXP_TEST_OUTAGE", 20))), seed=opts.get("seed"))
    else:
        {"basic": t_basic, "wrong_ca": t_wrong_ca, "reject_replay": t_reject_replay}[name]()


if __name__ == "__main__":
    main()
