"""bench/ndxp.py — `bench/run ndxp` (run by bench/ndxp.sh): forwarding to NDXP
through the connector (adapters/ndxp) with JWS signing and mutual TLS, against
the NDXP simulator (lgsp-ndxp-sim), lgspd and the simulator on this machine.

Three measurements, one lgspd and one simulator:
  1. throughput: RECORDS records published at once to canonical.person; the
     forwarding rate is taken from the simulator's accepted_at times (first to
     last acceptance).
  2. latency: records published at a steady ARRIVAL rate for STEADY seconds;
     publish (the client's clock when queued) -> accepted_at at the simulator,
     p50 / p99.
  3. drain: the arrival goes on while the simulator answers 503 for OUTAGE
     seconds; the drain rate is what NDXP accepted from the end of the outage
     until the last record published during it was accepted, per second, over
     the arrival rate.
At the end every published id is looked up in the simulator's store: lost =
published and not stored, duplicated = stored more than once.

Last line:
  ndxp: <N> records/s, p99 <ms> ms, drain <x>x arrival, lost <n>, duplicated <n>
"""

import collections
import datetime
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests", "integration"), os.path.join(ROOT, "tests", "adapters", "ndxp")]

import harness    # noqa: E402
import ndxputil   # noqa: E402
import pyclient   # noqa: E402

TOPIC = "canonical.person"


def env_num(name, default, kind=float):
    v = os.environ.get(name)
    return kind(v) if v else default


def payload(i, tag):
    # A canonical person of about 600 bytes, synthetic.
    return json.dumps({
        "schema": "person/1", "person_id": "%s-%07d" % (tag, i), "full_name": "Bench Person %d" % i,
        "family_name": "Bench", "middle_name": "Van", "given_name": "P%d" % i,
        "birth_date": "19%02d-%02d-%02d" % (50 + i % 50, i % 12 + 1, i % 28 + 1), "sex": "male" if i % 2 else "female",
        "personal_id": "0%011d" % (i * 7919 % 10 ** 11),
        "address": {"commune_code": "20194", "commune_name": "Phường Hải Châu", "province_code": "48",
                    "detail": "%d Đường Bạch Đằng" % (i % 300 + 1),
                    "original": {"code": "20197", "version": "pre-2025"}},
        "provenance": {"source": "bench", "source_id": "%s-%d" % (tag, i), "mapping_version": "bench.1",
                       "ingested_at": "2026-11-23T10:00:00.000Z"}}, ensure_ascii=False, separators=(",", ":"))


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accepted_ms(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000.0


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def steady(c, rate, seconds, tag, start, sent_at, on_tick=None):
    """Publishes at `rate`/s for `seconds`, ids tag:i from start; sent_at[id] = wall ms."""
    t0 = time.monotonic()
    i = start
    while True:
        el = time.monotonic() - t0
        if el >= seconds:
            break
        due = start + int(el * rate)
        batch = []
        while i < due:
            mid = "%s:%07d" % (tag, i)
            batch.append((mid, "%s-%07d" % (tag, i), None, payload(i, tag)))
            i += 1
        if batch:
            now = time.time() * 1000.0
            for m in batch:
                sent_at[m[0]] = now
            c.publish_async(TOPIC, batch)
        if on_tick:
            on_tick(el)
        c.poll(0.005)
    return i


def main():
    records = env_num("NDXP_RECORDS", 50000, int)
    arrival = env_num("NDXP_ARRIVAL", 500, int)
    steady_s = env_num("NDXP_STEADY", 15, int)
    outage = env_num("NDXP_OUTAGE", 20, int)
    in_flight = env_num("NDXP_IN_FLIGHT", 4, int)
    batch_max = env_num("NDXP_BATCH", 250, int)
    work = tempfile.mkdtemp(prefix="lgsp-bench-ndxp-")
    certs = ndxputil.make_certs(os.path.join(work, "certs"))
    sim = ndxputil.Sim(work, certs).start()
    d = harness.Lgspd(work, map_size="4GiB", log_level="warn",
                      adapters=[ndxputil.sink_adapter(sim, certs, TOPIC, batch_max=batch_max,
                                                      max_in_flight=in_flight, backoff="200ms",
                                                      backoff_max="5s", breaker_open="1s")])
    d.start()
    sent_at = {}
    try:
        with pyclient.Client(d.endpoint, "bench") as c:
            c.hello()
            # 1. throughput
            msgs = [("t:%07d" % i, "t-%07d" % i, None, payload(i, "t"))
                    for i in range(records)]
            print("ndxp: %d records of ~%d bytes published at once, %d in flight, batches of %d"
                  % (records, len(msgs[0][3]), in_flight, batch_max), flush=True)
            now = time.time() * 1000.0
            for m in msgs:
                sent_at[m[0]] = now
            cpu0 = (cpu_s(d.proc.pid), cpu_s(sim.proc.pid))
            for k in range(0, records, 10000):
                c.publish(TOPIC, msgs[k:k + 10000], timeout=300)
            deadline = time.monotonic() + 900
            while sim.stats().get("stored", 0) < records and time.monotonic() < deadline:
                time.sleep(0.5)
            cpu1 = (cpu_s(d.proc.pid), cpu_s(sim.proc.pid))
            stored = sim.messages()
            ts = sorted(accepted_ms(m["accepted_at"]) for m in stored if m["message_id"].startswith("t:"))
            rate = (len(ts) - 1) / ((ts[-1] - ts[0]) / 1000.0) if len(ts) > 1 and ts[-1] > ts[0] else 0.0
            print("ndxp: throughput %.0f records/s forwarded (signed, mTLS), %d accepted in %.1f s"
                  % (rate, len(ts), (ts[-1] - ts[0]) / 1000.0 if ts else 0), flush=True)
            # CPU per record: what the figures are made of, whatever else runs on the machine.
            print("ndxp: CPU per record: lgspd %.0f us (publish, journal, connector: sign, TLS), simulator %.0f us "
                  "(TLS, verify, store); load average %.1f"
                  % ((cpu1[0] - cpu0[0]) * 1e6 / records, (cpu1[1] - cpu0[1]) * 1e6 / records, os.getloadavg()[0]),
                  flush=True)

            # 2. latency at a steady arrival rate
            print("ndxp: steady arrival %d/s for %d s" % (arrival, steady_s), flush=True)
            n = steady(c, arrival, steady_s, "s", 0, sent_at)
            # 3. outage while the arrival goes on, then the drain
            print("ndxp: outage of %d s while %d/s arrive" % (outage, arrival), flush=True)
            state = {"set": False}

            def tick(el):
                if not state["set"]:
                    sim.fault(kind="outage", seconds=outage)
                    state["set"] = True
                    state["end"] = time.time() * 1000.0 + outage * 1000.0
            n = steady(c, arrival, outage, "s", n, sent_at, tick)
            end_ms = state["end"]
            n_before_end = n
            # arrival continues while the backlog drains (at most 5 min)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and sim.stats().get("stored", 0) < records + n_before_end:
                n = steady(c, arrival, 1, "s", n, sent_at)
            n = steady(c, arrival, 2, "s", n, sent_at)
            while c.unanswered():
                c.poll(0.1)
        # everything published; wait until all is at NDXP
        total = records + n
        deadline = time.monotonic() + 600
        while sim.stats().get("stored", 0) < total and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        stored = sim.messages()
        by_id = collections.Counter(m["message_id"] for m in stored)
        acc = {m["message_id"]: accepted_ms(m["accepted_at"]) for m in stored}
        lost = sum(1 for mid in sent_at if mid not in by_id)
        dup = sum(v - 1 for v in by_id.values() if v > 1)
        lat = [acc[mid] - sent_at[mid] for mid in sent_at if mid.startswith("s:") and int(mid[2:]) < steady_s * arrival
               and mid in acc]
        p50, p99 = pct(lat, 50), pct(lat, 99)
        print("ndxp: latency publish -> NDXP accepted at %d/s: p50 %.0f ms, p99 %.0f ms (%d records)"
              % (arrival, p50, p99, len(lat)), flush=True)
        # the backlog is drained when the last record published before the outage's end is accepted
        before_end = [acc[mid] for mid in sent_at if mid.startswith("s:") and int(mid[2:]) < n_before_end
                      and mid in acc]
        t_done = max(before_end) if before_end else None
        in_drain = [t for t in acc.values() if end_ms <= t <= (t_done or 0)]
        drain = len(in_drain) / ((t_done - end_ms) / 1000.0) if t_done and t_done > end_ms else 0.0
        print("ndxp: backlog of %d records after a %d s outage drained in %.1f s: %.0f records/s = %.1fx the "
              "arrival rate (%d/s)" % (outage * arrival, outage, ((t_done or end_ms) - end_ms) / 1000.0, drain,
                                       drain / arrival, arrival), flush=True)
        st = sim.stats()
        print("ndxp: simulator %s" % json.dumps(st, separators=(",", ":"))[:400], flush=True)
        print("ndxp: %.0f records/s, p99 %.0f ms, drain %.1fx arrival, lost %d, duplicated %d"
              % (rate, p99, drain / arrival, lost, dup), flush=True)
    finally:
        d.stop()
        d.kill9()
        sim.stop()
        if os.environ.get("NDXP_KEEP") != "1":
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
