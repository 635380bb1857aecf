"""test_map.py — the mapping stage (adapters/map) in the real lgspd.

A source (the example plugin following a JSON-lines file) publishes
qn-population records from lgsp-gen to raw.qn; the stage maps them with
schemas/mappings/qn-population.yaml to canonical.person. Records with an
invalid value (written into the file by this test) go to quarantine.map-qn
with the mapping file's line, the field and the rule.

  basic        every good record mapped once, every bad one quarantined with its reason
  kill9        lgspd killed -9 while mapping: still every record exactly once
  replay       a changed mapping file replays the raw topic: new versions of every record
  bad_mapping  a mapping file with an error: --check-config names file:line
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time

import harness

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MAPPING = os.path.join(SRC, "schemas", "mappings", "qn-population.yaml")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def world(wd, scale="0.002"):
    out = os.path.join(wd, "world")
    subprocess.run([os.environ["LGSP_GEN"], "--seed", "5", "--scale", scale, "--out", out, "--quiet",
                    "--noise-rate", "bad_date=0", "--noise-rate", "bad_id_province=0",
                    "--noise-rate", "bad_id_sex=0", "--noise-rate", "bad_code=0",
                    "--noise-rate", "unknown_unit=0",
                    "--data", os.environ["LGSP_SHARED"]], check=True)
    with open(os.path.join(out, "qn-population", "persons.jsonl"), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# Invalid values, each with the rule the stage must name.
BAD = [
    ("ngay_sinh", "31/04/1987", "date"),
    ("ngay_sinh", "29/02/1987", "date"),
    ("ma_xa", "20999", "unknown_unit"),
    ("gioi_tinh", "Khác", "code_table"),
    ("so_dinh_danh", "099187654321", "personal_id.province"),
]


def records(wd):
    good = world(wd)
    bad = []
    for i, (field, value, rule) in enumerate(BAD):
        r = dict(good[i])
        r["id"] = "BAD%05d" % i
        r[field] = value
        if field == "so_dinh_danh":
            r["ngay_sinh"] = "01/01/1987"
        bad.append((r, field, rule))
    return good, bad


def lgspd(wd, feed, mapping=MAPPING, **kw):
    shared = os.environ["LGSP_SHARED"]
    return harness.Lgspd(wd, adapters=[
        {"name": "qn", "plugin": "example", "interval": "100ms",
         "settings": {"file": feed, "batch": "200"}},
        {"name": "map-qn", "plugin": "map", "topic": "raw.qn", "output": "canonical.person",
         "batch": 200, "credit": 400,
         "settings": {"mapping": mapping, "data": os.path.join(shared, "admin"),
                      "schemas": os.path.join(SRC, "schemas")}},
    ], **kw)


def write_feed(path, recs):
    with open(path, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def wait_topic(d, topic, n, timeout=120):
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        got = harness.read_topic(d.endpoint, topic, expect=n, idle=1.0, timeout=30)
        if len(got) >= n:
            return got
        time.sleep(0.5)
    return got


def case_basic():
    wd = harness.workdir("map-basic")
    good, bad = records(wd)
    feed = os.path.join(wd, "feed.jsonl")
    mixed = good[len(BAD):] + [b[0] for b in bad]
    write_feed(feed, mixed)
    n_good = len(mixed) - len(bad)
    with lgspd(wd, feed) as d:
        canon = wait_topic(d, "canonical.person", n_good)
        quar = wait_topic(d, "quarantine.map-qn", len(bad))
        time.sleep(1.0)
        canon = harness.read_topic(d.endpoint, "canonical.person", idle=1.5)
        recs = [json.loads(x.payload) for x in canon]
        ids = [r["provenance"]["source_record_id"] for r in recs]
        check(len(canon) == n_good and len(set(ids)) == n_good,
              "every good record mapped exactly once (%d of %d)" % (len(set(ids)), n_good))
        check(all(r["schema"] == "person.v1" and r["provenance"]["mapping_version"].startswith("qn-population@1+")
                  for r in recs), "canonical records name their schema and mapping version")
        h = canon[0].headers
        check(h.get("lgsp-schema") == "person.v1" and h.get("lgsp-raw-id"), "headers name the schema and the raw message")
        check(len(quar) == len(bad), "every bad record quarantined (%d of %d)" % (len(quar), len(bad)))
        lines = open(MAPPING, encoding="utf-8").read().split("\n")
        by_id = {}
        for q in quar:
            qh = q.headers
            rid = json.loads(q.payload)["id"]
            by_id[rid] = qh["lgsp-reason"]
            check(qh["lgsp-position"].startswith("raw.qn@"), "quarantine position names the raw topic and offset")
        for r, field, rule in bad:
            reason = by_id.get(r["id"], "")
            check((": %s: " % rule) in reason and "qn-population.yaml:" in reason,
                  "%s=%r quarantined by rule %s: %s" % (field, r[field], rule, reason.split("\n")[0]))
            line = int(reason.split("qn-population.yaml:")[1].split(":")[0])
            # the line is in the rule (its "- field:" line or one of its steps) that reads the field
            start = max(i for i in range(line) if lines[i].lstrip().startswith("- field:"))
            end = min([i for i in range(line, len(lines)) if lines[i].lstrip().startswith("- field:")] + [len(lines)])
            check(any(field in l for l in lines[start:end]),
                  "the reason's line %d is in the rule reading %s" % (line, field))
        # /health and /metrics are rendered about once a second: wait for them.
        det, recs_metric = {}, None
        deadline = time.time() + 10
        while time.time() < deadline:
            health = json.loads(d.http("/health")[1])
            det = [a for a in health["adapters"] if a["name"] == "map-qn"][0]
            recs_metric = d.metric("lgsp_adapter_records_total", adapter="map-qn")
            if "%d mapped" % n_good in det.get("detail", "") and recs_metric == n_good:
                break
            time.sleep(0.3)
        check("%d mapped, %d quarantined" % (n_good, len(bad)) in det.get("detail", ""),
              "health shows the stage: %s" % det.get("detail"))
        check(recs_metric == n_good, "metrics count the canonical records (%s)" % recs_metric)


def case_kill9():
    wd = harness.workdir("map-kill9")
    good, _ = records(wd)
    feed = os.path.join(wd, "feed.jsonl")
    write_feed(feed, good)
    d = lgspd(wd, feed).start()
    try:
        kills = 0
        for _ in range(3):
            time.sleep(random.uniform(0.2, 0.8))
            d.kill9()
            kills += 1
            d.start()
        canon = wait_topic(d, "canonical.person", len(good))
        time.sleep(1.0)
        canon = harness.read_topic(d.endpoint, "canonical.person", idle=2.0)
        ids = [json.loads(x.payload)["provenance"]["source_record_id"] for x in canon]
        check(set(ids) == {r["id"] for r in good}, "every record mapped after %d kills (%d of %d)"
              % (kills, len(set(ids)), len(good)))
        check(len(ids) == len(set(ids)), "none twice (%d messages, %d ids)" % (len(ids), len(set(ids))))
    finally:
        d.stop()


def case_replay():
    wd = harness.workdir("map-replay")
    good, _ = records(wd)
    feed = os.path.join(wd, "feed.jsonl")
    write_feed(feed, good)
    mapping = os.path.join(wd, "qn-population.yaml")
    shutil.copy(MAPPING, mapping)
    d = lgspd(wd, feed, mapping=mapping).start()
    try:
        first = wait_topic(d, "canonical.person", len(good))
        v1 = {json.loads(x.payload)["provenance"]["mapping_version"] for x in first}
        check(len(first) == len(good) and len(v1) == 1, "first pass: %d records, version %s" % (len(first), v1))
        d.stop()
        # A changed mapping: the spouse's name is no longer mapped.
        text = open(mapping, encoding="utf-8").read()
        text = text.replace("version: 1", "version: 2")
        cut = text.index("  - field: spouse_name")
        end = text.index("  - field: source_updated_at")
        text = text[:cut] + text[end:]
        open(mapping, "w", encoding="utf-8").write(text)
        d.start()
        both = wait_topic(d, "canonical.person", 2 * len(good))
        time.sleep(1.0)
        both = harness.read_topic(d.endpoint, "canonical.person", idle=2.0)
        recs = [json.loads(x.payload) for x in both]
        v2 = [r for r in recs if r["provenance"]["mapping_version"].startswith("qn-population@2+")]
        check(len(both) == 2 * len(good), "the replay added one new version of every record (%d)" % len(both))
        check(len({r["provenance"]["source_record_id"] for r in v2}) == len(good) and
              not any("spouse_name" in r for r in v2), "the new versions come from the changed mapping")
        d.stop()
        d.start()
        time.sleep(2.0)
        again = harness.read_topic(d.endpoint, "canonical.person", idle=2.0)
        check(len(again) == 2 * len(good), "a restart with the same mapping replays nothing (%d)" % len(again))
    finally:
        d.stop()


def case_bad_mapping():
    wd = harness.workdir("map-bad")
    feed = os.path.join(wd, "feed.jsonl")
    write_feed(feed, [])
    mapping = os.path.join(wd, "broken.yaml")
    text = open(MAPPING, encoding="utf-8").read().replace("do: [trim, { table: sex }]", "do: [trim, { table: gender }]")
    open(mapping, "w", encoding="utf-8").write(text)
    line = [i + 1 for i, l in enumerate(text.split("\n")) if "table: gender" in l][0]
    d = lgspd(wd, feed, mapping=mapping)
    d.write_config()
    r = subprocess.run([os.environ["LGSPD"], "-c", d.config_path, "--check-config"],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    check(r.returncode != 0, "--check-config fails on a broken mapping")
    check(("broken.yaml:%d:" % line) in out and "gender" in out, "it names the file and line: %s" % out.strip()[-300:])


CASES = {"basic": case_basic, "kill9": case_kill9, "replay": case_replay, "bad_mapping": case_bad_mapping}

if __name__ == "__main__":
    CASES[sys.argv[1]]()
