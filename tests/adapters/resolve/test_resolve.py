"""test_resolve.py — the streaming stage of entity resolution (adapters/resolve)
in the real lgspd.

A small world from lgsp-gen (scale 0.005: both population registers) is
mapped with `lgsp map` to canonical person records, which this test publishes
to canonical.person; the stage links each to its entity in its store and
publishes the change to entity.person. Entities are checked against the
generator's truth (which true person each record is).

  basic      every record got exactly one entity change; >= 99% of the true
             pairs share an entity, almost no entity mixes two true people;
             a record without an id is quarantined with the reason; /health
             shows the latency; a redelivered record (same message) changes
             nothing
  kill9      lgspd killed -9 while linking: every record still has exactly
             one entity change and one entity
  decisions  a manual unlink (lgsp decide) made before the stream keeps a
             true pair apart, a manual link joins two different people
  no_model   without a model in the store or a `model:` file, init fails
             and says to run lgsp dedup --store or set model:; after
             lgsp dedup --store it starts with the store's model
"""
import collections
import hashlib
import json
import os
import random
import subprocess
import sys
import time

import harness
import pyclient

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = os.path.join(SRC, "config", "er", "person.yaml")
MODEL = os.path.join(SRC, "config", "er", "person.model.json")
SCALE = os.environ.get("RESOLVE_SCALE", "0.005")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def cli(*args, check_rc=True, **kw):
    r = subprocess.run([os.environ["LGSP_CLI"]] + list(args), capture_output=True, text=True, **kw)
    if check_rc and r.returncode not in (0, 1):
        raise AssertionError("lgsp %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr[-2000:]))
    return r


def world(wd, seed=7):
    """The canonical person records (dicts, record id "source:id") and the truth {record id: person}."""
    out = os.path.join(wd, "world")
    subprocess.run([os.environ["LGSP_GEN"], "--seed", str(seed), "--scale", SCALE, "--out", out, "--quiet",
                    "--data", os.environ["LGSP_SHARED"]], check=True)
    recs = []
    for view, inp in (("qn-population", "persons.jsonl"), ("dn-population", "congdan.xml")):
        r = cli("map", "--mapping", os.path.join(SRC, "schemas", "mappings", view + ".yaml"),
                "--input", os.path.join(out, view, inp))
        recs += [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    truth = {}
    for view in ("qn-population", "dn-population"):
        with open(os.path.join(out, "truth", view + ".truth.tsv"), encoding="utf-8") as f:
            next(f)
            for line in f:
                rid, role, ent = line.rstrip("\n").split("\t")[:3]
                if role == "person":
                    truth["%s:%s" % (view, rid)] = ent
    return recs, truth


def rid_of(rec):
    p = rec["provenance"]
    return "%s:%s" % (p["source_system"], p["source_record_id"])


def msg_id(rec):
    return "c:" + hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:32]


def lgspd(wd, store, model=MODEL, **kw):
    settings = {"spec": SPEC, "store": store}
    if model:
        settings["model"] = model
    return harness.Lgspd(wd, adapters=[
        {"name": "resolve-person", "plugin": "resolve", "topic": "canonical.person", "output": "entity.person",
         "batch": 100, "credit": 400, "settings": settings},
    ], **kw)


def publish(d, recs, raw=None):
    msgs = [(msg_id(r), rid_of(r), {"schema": "person.v1"}, json.dumps(r, ensure_ascii=False)) for r in recs]
    msgs += raw or []
    with pyclient.Client(d.endpoint, "feeder") as c:
        c.hello()
        for i in range(0, len(msgs), 500):
            res, err = c.publish("canonical.person", msgs[i:i + 500], timeout=60)
            if err:
                raise AssertionError("publish failed: %s" % list(err.items())[:3])


def wait_topic(d, topic, n, timeout=240):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = harness.read_topic(d.endpoint, topic, expect=n, idle=2.0, timeout=60)
        if len(got) >= n:
            break
        time.sleep(1.0)
    time.sleep(1.0)
    return harness.read_topic(d.endpoint, topic, idle=2.0, timeout=60)


def score(events, truth):
    """Pair recall over the true pairs and the entities mixing true people."""
    ent = {}
    for e in events:
        ent[e["record"]] = e["entity"]
    by_person = collections.defaultdict(list)
    for rid, p in truth.items():
        if rid in ent:
            by_person[p].append(rid)
    pairs = together = 0
    for rids in by_person.values():
        for i in range(len(rids)):
            for j in range(i + 1, len(rids)):
                pairs += 1
                together += ent[rids[i]] == ent[rids[j]]
    members = collections.defaultdict(set)
    for rid, e in ent.items():
        members[e].add(truth.get(rid))
    mixed = sum(1 for s in members.values() if len(s) > 1)
    recall = together / pairs if pairs else 1.0
    print("figures: %d records, %d entities, %d true pairs, %d together (recall %.4f), %d mixed entities"
          % (len(ent), len(members), pairs, together, recall, mixed))
    return ent, recall, mixed, pairs


def check_quality(events, truth):
    ent, recall, mixed, pairs = score(events, truth)
    check(pairs > 50, "the world has true pairs to find (%d)" % pairs)
    check(recall >= 0.99, "records of the same true person share an entity for >= 99%% of true pairs (%.4f)" % recall)
    check(mixed <= max(3, len(set(ent.values())) // 1000),
          "at most a handful of entities mix two true people (%d)" % mixed)
    return ent


def check_once(events, recs):
    by_rec = collections.Counter(e["record"] for e in events)
    want = {rid_of(r) for r in recs}
    check(set(by_rec) == want, "every record got an entity (%d of %d)" % (len(set(by_rec) & want), len(want)))
    check(all(v == 1 for v in by_rec.values()),
          "one entity change per record (%d changes, %d records)" % (len(events), len(by_rec)))


def check_log(d):
    """No sanitizer report in lgspd's log (under ASan/UBSan the stage runs inside lgspd)."""
    with open(d.log_path, errors="replace") as f:
        bad = [l for l in f if "runtime error:" in l or "Sanitizer" in l]
    check(not bad, "no sanitizer report in lgspd's log%s" % (": " + bad[0].strip() if bad else ""))


def case_basic():
    wd = harness.workdir("resolve-basic")
    recs, truth = world(wd)
    store = os.path.join(wd, "store")
    bad = ("bad:1", "bad", {}, json.dumps({"schema": "person.v1", "name": {"full": "X"}}))
    notjson = ("bad:2", "bad", {}, "{not json")
    with lgspd(wd, store) as d:
        publish(d, recs, raw=[bad, notjson])
        msgs = wait_topic(d, "entity.person", len(recs))
        events = [json.loads(m.payload) for m in msgs]
        check_once(events, recs)
        check_quality(events, truth)
        actions = collections.Counter(e["action"] for e in events)
        check(set(actions) <= {"created", "linked"} and actions["linked"] > 0,
              "actions: %s" % dict(actions))
        m0 = msgs[0]
        check(m0.headers.get("lgsp-input-id", "").startswith("c:") and m0.headers.get("lgsp-entity") ==
              events[0]["entity"], "headers carry the input message id and the entity")
        # the golden record of an entity of several records, with where each value came from
        multi = [e for e in events if e["members"] > 1]
        check(multi and all("full_name" in e["golden"] and e["golden"]["full_name"]["record"] for e in multi),
              "golden records name the record each value came from (%d changes of multi-record entities)"
              % len(multi))
        quar = harness.read_topic(d.endpoint, "quarantine.resolve-person", expect=2, idle=2.0)
        reasons = [q.headers.get("lgsp-reason", "") for q in quar]
        check(len(quar) == 2 and any("no record id" in r for r in reasons) and any("not a JSON" in r for r in reasons),
              "records without an id or not JSON are quarantined with the reason: %s" % reasons)
        # redelivery of the same message: the journal drops it (same id), nothing changes
        before = len(harness.read_topic(d.endpoint, "entity.person", idle=1.5))
        publish(d, recs[:5])          # the bus itself drops these (same message ids)
        # a new version of a record (same record id, another message): "updated", same entity
        newer = json.loads(json.dumps(recs[0]))
        newer["source_updated_at"] = "2031-01-01T00:00:00Z"
        publish(d, [newer])
        after = wait_topic(d, "entity.person", before + 1, timeout=60)
        check(len(after) == before + 1, "a republished message adds nothing, a new version one change (%d -> %d)"
              % (before, len(after)))
        last = json.loads(after[-1].payload)
        first = [e for e in events if e["record"] == rid_of(recs[0])][0]
        check(last["action"] == "updated" and last["entity"] == first["entity"],
              "the new version keeps its entity (%s)" % last["action"])
        det = ""
        deadline = time.time() + 10
        while time.time() < deadline:
            health = json.loads(d.http("/health")[1])
            det = [a for a in health["adapters"] if a["name"] == "resolve-person"][0].get("detail", "")
            if "link latency p50" in det and "(0)" not in det:
                break
            time.sleep(0.3)
        check("link latency p50" in det and "p99" in det, "health shows the link latency: %s" % det)
        linked = d.metric("lgsp_adapter_linked_total", adapter="resolve-person")
        check(linked == actions["linked"], "metrics count the links (%s)" % linked)
    check_log(d)


def case_kill9():
    wd = harness.workdir("resolve-kill9")
    recs, truth = world(wd)
    store = os.path.join(wd, "store")
    d = lgspd(wd, store).start()
    try:
        publish(d, recs)
        kills = 0
        for _ in range(3):
            time.sleep(random.uniform(0.3, 1.5))
            d.kill9()
            kills += 1
            d.start()
        msgs = wait_topic(d, "entity.person", len(recs))
        events = [json.loads(m.payload) for m in msgs]
        print("after %d kills: %d entity changes" % (kills, len(events)))
        check_once(events, recs)
        ids = [m.id for m in msgs]
        check(len(ids) == len(set(ids)), "no output message twice")
        check_quality(events, truth)
    finally:
        d.stop()
    check_log(d)


def case_decisions():
    wd = harness.workdir("resolve-decisions")
    recs, truth = world(wd)
    store = os.path.join(wd, "store")
    by_person = collections.defaultdict(list)
    for r in recs:
        by_person[truth.get(rid_of(r))].append(rid_of(r))
    pairs = sorted(v for v in by_person.values() if len(v) == 2)
    singles = sorted(v[0] for v in by_person.values() if len(v) == 1)
    check(pairs and len(singles) > 2, "the world has true pairs and single records")
    a, b = pairs[len(pairs) // 2]
    c, e = singles[0], singles[-1]
    cli("decide", "--store", store, "--kind", "person", "unlink", a, b, "--who", "tester")
    cli("decide", "--store", store, "--kind", "person", "link", c, e, "--who", "tester", "--note", "test")
    with lgspd(wd, store) as d:
        publish(d, recs)
        msgs = wait_topic(d, "entity.person", len(recs))
        events = [json.loads(m.payload) for m in msgs]
        check_once(events, recs)
        ent = {x["record"]: x["entity"] for x in events}
        check(ent[a] != ent[b], "a manual unlink keeps a true pair apart")
        check(ent[c] == ent[e], "a manual link joins two different people")
        # the other true pairs are still found
        score(events, truth)
    check_log(d)


def case_no_model():
    wd = harness.workdir("resolve-no-model")
    d = lgspd(wd, os.path.join(wd, "store"), model=None)
    d.write_config()
    r = subprocess.run([harness.find_lgspd(), "-c", d.config_path, "--check-config"], capture_output=True, text=True)
    out = r.stdout + r.stderr
    check(r.returncode != 0 and "lgsp dedup" in out and "model:" in out,
          "init without a model fails and says what to do: %s" % out.strip().splitlines()[-1:])
    # a batch run puts a model in the store: the stage takes it from there
    global SCALE
    SCALE = "0.001"
    recs, _ = world(wd)
    inp = os.path.join(wd, "canonical.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for x in recs:
            f.write(json.dumps(x, ensure_ascii=False) + "\n")
    cli("dedup", "--spec", SPEC, "-i", inp, "--store", os.path.join(wd, "store"))
    r = subprocess.run([harness.find_lgspd(), "-c", d.config_path, "--check-config"], capture_output=True, text=True)
    check(r.returncode == 0, "after lgsp dedup --store the stage starts with the store's model: %s"
          % (r.stdout + r.stderr).strip().splitlines()[-1:])
    with d:
        det = ""
        deadline = time.time() + 10
        while time.time() < deadline and "model: store" not in det:
            time.sleep(0.3)
            h = json.loads(d.http("/health")[1])
            det = [a for a in h["adapters"] if a["name"] == "resolve-person"][0].get("detail", "")
        check("model: store" in det, "health names the model's origin: %s" % det)


if __name__ == "__main__":
    {"basic": case_basic, "kill9": case_kill9, "decisions": case_decisions,
     "no_model": case_no_model}[sys.argv[1]]()
