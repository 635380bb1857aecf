"""departments.py — the six department systems end to end: lgsp-gen writes a
world, lgsp-sim serves it through the six protocols, lgspd ingests it with
the adapters wired by config/departments.yaml, and the per-source counts in
the journal are compared with the generator's truth (truth/<system>.truth.tsv),
then what the journal holds with what the generator wrote (verify()).

What a source's raw topic holds is one message per source record: the
truth's distinct record ids, except dn-land, whose three tables are joined
in SQL into one document per parcel (the truth's `parcel` rows, each with
its `owner` rows in `owners` and its `certificate` row in `certificate`).

Used by the demo (demo.sh), the test tests/adapters/all-six and the
benchmark bench/run ingest:

    with Departments(work, scale=0.01) as dep:
        dep.start()                       # gen, sim, lgspd
        result = dep.wait_ingested(timeout=600)
        print(table(result))
        problems = dep.verify()           # {source: [what is wrong]}
"""

import collections
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness

ROOT = harness.ROOT
SYSTEMS = ["qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil"]
# The addresses config/departments.yaml is written for: lgsp-sim's defaults.
DEFAULT_PORTS = {"control": 18600, "qn-population": 18601, "dn-population": 18602,
                 "dn-land": 18604, "dn-civil": 18606}
DEFAULT_DROP = "/var/lib/lgsp/drop"
DEFAULT_WEBHOOK_PORT = 18680
# The NDXP sinks (config/departments.yaml): the simulator's port and the certificates' folder.
DEFAULT_NDXP_PORT = 18610
DEFAULT_NDXP_CERTS = "/etc/lgsp/ndxp/"
NDXP_TOPICS = {"ndxp-person": "canonical.person", "ndxp-land-parcel": "canonical.land_parcel",
               "ndxp-civil-event": "canonical.civil_event", "ndxp-entity-person": "entity.person"}


def tool(env, name, *rel):
    p = os.environ.get(env)
    if p:
        return p
    return os.path.join(os.path.dirname(harness.find_lgspd()), "..", *rel)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def shared_data():
    return os.environ.get("LGSP_SHARED") or os.path.join(ROOT, "..", "shared", "data")


def make_world(out, scale, seed=1, quiet=True):
    """Runs lgsp-gen unless `out` already holds this world; returns summary.json."""
    summ = os.path.join(out, "truth", "summary.json")
    if os.path.exists(summ):
        with open(summ) as f:
            s = json.load(f)
        if s.get("scale") == scale and s.get("seed") == seed:
            return s
    gen = tool("LGSP_GEN", "lgsp-gen", "sim", "gen", "lgsp-gen")
    t0 = time.monotonic()
    r = subprocess.run([gen, "--seed", str(seed), "--scale", str(scale), "--out", out,
                        "--data", shared_data()] + (["--quiet"] if quiet else []),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("lgsp-gen failed: " + r.stderr[-2000:])
    with open(summ) as f:
        s = json.load(f)
    s["_seconds"] = time.monotonic() - t0
    return s


class Sim:
    """lgsp-sim on free ports; .where[name] is what it printed for each system."""

    def __init__(self, world, work, webhook=None, only=None, settings=()):
        sim = tool("LGSP_SIM", "lgsp-sim", "sim", "servers", "lgsp-sim")
        os.makedirs(work, exist_ok=True)
        cmd = [sim, "--data", world, "--work", work, "--base-port", "0", "--set", "ref=" + shared_data()]
        if webhook:
            cmd += ["--webhook", webhook]
        if only:
            cmd += ["--only", ",".join(only)]
        for s in settings:
            cmd += ["--set", s]
        self.errf = open(os.path.join(work, "lgsp-sim.stderr"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.where = {}
        deadline = time.monotonic() + 180
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.errf.seek(0)
                raise RuntimeError("lgsp-sim exited before 'ready': " + self.errf.read()[-3000:])
            line = line.rstrip("\n")
            if line == "lgsp-sim: ready":
                break
            m = re.match(r"lgsp-sim: (\S+)\s+(\S+)", line)
            if m:
                self.where[m.group(1)] = m.group(2)
            if time.monotonic() > deadline:
                raise RuntimeError("lgsp-sim not ready in time")
        self.control = self.where["control"].rsplit("/", 1)[0]

    def port(self, name):
        w = self.where[name]
        m = re.search(r"@127\.0\.0\.1:(\d+)/", w) or re.match(r"\w+://127\.0\.0\.1:(\d+)", w)
        return int(m.group(1))

    def ctl(self, path, method="POST"):
        import urllib.request
        req = urllib.request.Request(self.control + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
        self.errf.close()


# The roles of a system's truth rows that are records of their own in its raw
# topic (default: every row). dn-land's owners and certificates are inside
# their parcel's document (config/departments.yaml).
RECORD_ROLES = {"dn-land": {"parcel"}}


def truth_roles(world, system):
    """{record id: set of roles} of a system in the generator's truth."""
    roles = collections.defaultdict(set)
    with open(os.path.join(world, "truth", system + ".truth.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            roles[cols[0]].add(cols[1] if len(cols) > 1 else "")
    return roles


def expected_ids(world, system):
    """The source record ids a system's raw topic must hold, each once."""
    want = RECORD_ROLES.get(system)
    return set(i for i, r in truth_roles(world, system).items() if want is None or r & want)


def truth_records(world, system):
    """The number of messages a system's raw topic must hold."""
    return len(expected_ids(world, system))


def _csv_rows(world, system, table):
    with open(os.path.join(world, system, table + ".csv"), newline="", encoding="utf-8") as f:
        return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]


def _text(v):
    return None if v is None else v if isinstance(v, str) else str(v)


def verify_dn_land(world, msgs):
    """dn-land's parcel documents against the generator's CSVs and truth: one
    message per truth parcel; every owner row of the truth in its parcel's
    `owners` (source id chu_su_dung:<id>, each value as in the CSV), every
    certificate in its parcel's `certificate` (giay_chung_nhan:<id>); nothing
    else. Returns what is wrong (empty: all of it is there)."""
    roles = truth_roles(world, "dn-land")
    by_role = collections.defaultdict(set)
    for i, rs in roles.items():
        for r in rs:
            by_role[r].add(i)
    problems = []
    docs = {}
    for m in msgs:
        sid = m.headers.get("lgsp-source-id")
        if sid in docs:
            problems.append("%s: twice (the same parcel in two versions, with nothing changed)" % sid)
        try:
            docs[sid] = json.loads(m.payload)
        except ValueError:
            problems.append("%s: the payload is not JSON" % sid)
    missing = by_role["parcel"] - set(docs)
    unknown = set(docs) - by_role["parcel"]
    if missing or unknown:
        problems.append("parcels: %d of the truth's missing (%s), %d unknown (%s)"
                        % (len(missing), sorted(missing)[:3], len(unknown), sorted(unknown)[:3]))
    parcels = {"thua_dat:" + r["id"]: r for r in _csv_rows(world, "dn-land", "thua_dat")}
    for sid, doc in docs.items():
        want = parcels.get(sid)
        if want and any(_text(doc.get(k)) != v for k, v in want.items()):
            problems.append("%s: the parcel's columns differ from the CSV" % sid)
    # each owner / certificate row of the truth, in its parcel's document
    for table, role, key in (("chu_su_dung", "owner", "owners"), ("giay_chung_nhan", "certificate", "certificate")):
        rows = {"%s:%s" % (table, r["id"]): r for r in _csv_rows(world, "dn-land", table)}
        if set(rows) != by_role[role]:
            problems.append("%s: the truth's %s ids are not %s.csv's" % (key, role, table))
        lost, wrong = [], []
        for rid in sorted(by_role[role]):
            row = rows.get(rid)
            doc = docs.get("thua_dat:%s" % row["thua_dat_id"]) if row else None
            inner = (doc or {}).get(key)
            inner = inner if isinstance(inner, list) else [inner] if isinstance(inner, dict) else []
            found = [x for x in inner if isinstance(x, dict) and "%s:%s" % (table, x.get("id")) == rid]
            if not found:
                lost.append(rid)
            elif any(_text(v) != row.get(k) for k, v in found[0].items()):
                wrong.append(rid)
        if lost or wrong:
            problems.append("%s: %d of the truth's %d %s rows not in their parcel's document (%s), %d with other "
                            "values (%s)" % (key, len(lost), len(by_role[role]), role, lost[:3], len(wrong), wrong[:3]))
    # no owner or certificate that the truth does not know
    extra = set()
    for doc in docs.values():
        for x in (doc.get("owners") or []):
            extra.add("chu_su_dung:%s" % x.get("id"))
        if isinstance(doc.get("certificate"), dict):
            extra.add("giay_chung_nhan:%s" % doc["certificate"].get("id"))
    extra -= by_role["owner"] | by_role["certificate"]
    if extra:
        problems.append("%d owners or certificates that the truth does not have (%s)" % (len(extra), sorted(extra)[:3]))
    return problems


def verify_source(world, system, msgs):
    """A raw topic's messages against the truth: each expected source id once
    and no other (dn-land: its parcel documents, verify_dn_land()). Returns
    what is wrong."""
    if system == "dn-land":
        return verify_dn_land(world, msgs)
    ids = collections.Counter(m.headers.get("lgsp-source-id") for m in msgs)
    want = expected_ids(world, system)
    problems = []
    twice = [i for i, n in ids.items() if n > 1]
    if set(ids) != want:
        problems.append("%d of the truth's source ids missing (%s), %d unknown (%s)"
                        % (len(want - set(ids)), sorted(want - set(ids))[:3], len(set(ids) - want),
                           sorted(set(ids) - want)[:3]))
    if twice:
        problems.append("%d source ids more than once (%s)" % (len(twice), twice[:3]))
    return problems


def ndxputil():
    """tests/adapters/ndxp/ndxputil.py: the NDXP simulator and `lgsp certs`."""
    import sys
    d = os.path.join(ROOT, "tests", "adapters", "ndxp")
    if d not in sys.path:
        sys.path.insert(0, d)
    import ndxputil as m
    return m


def render(template, sim, webhook_port, drop_root, ndxp=None):
    """config/departments.yaml with lgsp-sim's real ports and folders in place
    of its default ones (and the NDXP simulator's: (port, certificates folder))."""
    text = template
    if ndxp:
        text = text.replace("127.0.0.1:%d/" % DEFAULT_NDXP_PORT, "127.0.0.1:%d/" % ndxp[0])
        text = text.replace(DEFAULT_NDXP_CERTS, ndxp[1].rstrip("/") + "/")
    for name, port in DEFAULT_PORTS.items():
        if name in sim.where:
            real = sim.port(name)
            text = re.sub(r"(127\.0\.0\.1[:,]|Port=|port: *)%d\b" % port, r"\g<1>%d" % real, text)
    text = re.sub(r"(127\.0\.0\.1:|port: *)%d\b" % DEFAULT_WEBHOOK_PORT, r"\g<1>%d" % webhook_port, text)
    return text.replace(DEFAULT_DROP, drop_root)


def adapters_section(text):
    """The `adapters:` part of a config (from that line to the end)."""
    i = text.find("\nadapters:")
    if i < 0:
        raise ValueError("no adapters: section")
    return text[i + 1:]


def template_path():
    return os.path.join(ROOT, "config", "departments.yaml")


class Departments:
    """gen + sim + lgspd with the six adapters, in `work`."""

    def __init__(self, work, scale=0.01, seed=1, systems=None, sim_settings=None,
                 lgspd_args=None, ndxp=False):
        self.work = work
        self.ndxp = ndxp               # forward the canonical topics to an NDXP simulator
        self.ndxp_sim = None
        self.scale = scale
        self.seed = seed
        self.systems = systems or SYSTEMS
        self.sim = None
        self.d = None
        # Drops all at once and pushes as fast as lgspd answers: the demo
        # and the benchmark measure lgsp, not the simulators' pacing.
        self.sim_settings = sim_settings if sim_settings is not None else [
            "qn-land.interval_ms=0", "qn-civil.interval_ms=0", "dn-civil.rate=0"]
        self.lgspd_args = lgspd_args or {}
        self.world = os.path.join(work, "world")
        self.summary_json = None
        self.started = None

    def start(self):
        os.makedirs(self.work, exist_ok=True)
        self.summary_json = make_world(self.world, self.scale, self.seed)
        hook_port = free_port()
        only = [s for s in self.systems]
        # lgsp-sim's PostgreSQL runs as the postgres user, which must reach its
        # folder: a work dir below a closed parent (mktemp -d is 0700) would
        # not do, so the simulators get a folder of their own under /tmp.
        self.simdir = tempfile.mkdtemp(prefix="lgsp-dep-sim-", dir="/tmp")
        os.chmod(self.simdir, 0o755)
        self.sim = Sim(self.world, self.simdir,
                       webhook="http://127.0.0.1:%d/hook/dn-civil" % hook_port if "dn-civil" in only else None,
                       only=only, settings=self.sim_settings)
        ndxp = None
        if self.ndxp:
            nu = ndxputil()
            certs = nu.make_certs(os.path.join(self.work, "ndxp-certs"))
            self.ndxp_sim = nu.Sim(self.work, certs).start()
            ndxp = (self.ndxp_sim.port, os.path.join(self.work, "ndxp-certs"))
        with open(template_path()) as f:
            text = render(f.read(), self.sim, hook_port, self.simdir, ndxp)
        section = adapters_section(text)
        if set(self.systems) != set(SYSTEMS) or not self.ndxp:
            section = self._only(section)
        args = dict(map_size="8GiB", log_level="info")
        args.update(self.lgspd_args)
        self.d = harness.Lgspd(os.path.join(self.work, "lgspd"), adapters_yaml=section, **args)
        # The mapping stage reads the mappings, the schemas and the admin data
        # from the source tree (an installed lgsp has them in <datadir>/lgsp).
        env = {"LGSP_MAPPINGS": os.path.join(ROOT, "schemas", "mappings"),
               "LGSP_SCHEMAS": os.path.join(ROOT, "schemas"),
               "LGSP_DATA": shared_data()}
        supp = os.path.join(ROOT, "adapters", "sql", "lsan.supp")
        if os.path.exists(supp):
            # what unixODBC and psqlODBC keep until exit (their frames only)
            env["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"),
                                                          "suppressions=" + supp, "print_suppressions=0"]))
        self.started = time.monotonic()
        self.d.start_env = env          # for a restart (kill -9 tests)
        self.d.start(extra_env=env)
        return self

    def _only(self, section):
        import yaml
        doc = yaml.safe_load(section)
        if set(self.systems) != set(SYSTEMS):
            keep = set(self.systems) | {"map-" + s for s in self.systems}
            if self.ndxp:
                keep |= set(NDXP_TOPICS)
            doc["adapters"] = [a for a in doc["adapters"] if a["name"] in keep]
        else:   # all six: everything but the NDXP sinks when there is no NDXP
            doc["adapters"] = [a for a in doc["adapters"] if self.ndxp or a["name"] not in NDXP_TOPICS]
        return "adapters: " + json.dumps(doc["adapters"], ensure_ascii=False) + "\n"

    def expected(self):
        """Messages per system's raw topic, from the generator's truth: its
        distinct record ids (the summary's count for dn-civil is its
        deliveries, which repeat some events: the journal holds each event
        once), for dn-land its parcels (one document each, whichever of the
        three streams read it: the journal stores equal payloads once)."""
        if not hasattr(self, "_expected"):
            self._expected = {s: truth_records(self.world, s) for s in self.systems}
        return self._expected

    def counts(self):
        """Messages stored per source's raw topic and quarantine topic."""
        out = {}
        for s in self.systems:
            out[s] = (int(self.d.metric("lgsp_topic_messages", topic="raw." + s) or 0),
                      int(self.d.metric("lgsp_topic_messages", topic="quarantine." + s) or 0))
        return out

    def wait_ingested(self, timeout=600, progress=None):
        """Waits until every source's raw topic holds the generator's count
        (or timeout). Returns {source: {expected, stored, quarantined, seconds}}."""
        want = self.expected()
        done = {}
        t0 = self.started
        deadline = time.monotonic() + timeout
        last_print = 0
        while time.monotonic() < deadline and len(done) < len(want):
            c = self.counts()
            now = time.monotonic()
            for s, (n, q) in c.items():
                if s not in done and n >= want[s]:
                    done[s] = now - t0
            if progress and now - last_print >= 5:
                progress(c, want, now - t0)
                last_print = now
            time.sleep(0.2)
        c = self.counts()
        return {s: {"expected": want[s], "stored": c[s][0], "quarantined": c[s][1],
                    "seconds": done.get(s)} for s in want}

    def _map_lag(self):
        """{source: lag of its mapping stage's group on raw.<source>, or None
        while the stage has not joined} from /metrics (the group is named
        after the mapping version: map.<source>.<version>.<sha8>)."""
        _, text = self.d.http("/metrics")
        lag = {s: None for s in self.systems}
        for line in text.splitlines():
            if not line.startswith("lgsp_consumer_lag{"):
                continue
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
            topic, group = labels.get("topic", "").strip('"'), labels.get("group", "").strip('"')
            for s in self.systems:
                if topic == "raw." + s and group.startswith("map.%s." % s):
                    lag[s] = float(line.rsplit(" ", 1)[1])
        return lag

    def wait_mapped(self, timeout=600):
        """Waits until every source's mapping stage has acknowledged all of its
        raw topic (its consumer group's lag is 0). True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lag = self._map_lag()
            if all(v == 0 for v in lag.values()):
                return True
            time.sleep(0.3)
        return False

    def mapping_summary(self):
        """Reads the canonical topics and the mapping stages' quarantine
        topics: {source: {"canonical": messages, "canonical_ids": {record id:
        count}, "quarantined": {record id: [reason lines]}}}."""
        out = {s: {"canonical": 0, "canonical_ids": collections.Counter(), "quarantined": {}}
               for s in self.systems}
        for topic in ("canonical.person", "canonical.land_parcel", "canonical.civil_event"):
            for m in harness.read_topic(self.d.endpoint, topic, idle=2.0):
                rec = json.loads(m.payload)
                src = rec["provenance"]["source_system"]
                if src in out:
                    out[src]["canonical"] += 1
                    out[src]["canonical_ids"][rec["provenance"]["source_record_id"]] += 1
        for s in self.systems:
            for m in harness.read_topic(self.d.endpoint, "quarantine.map-" + s, idle=1.0):
                pos = m.headers.get("lgsp-position", "")
                rid = pos[pos.find("(") + 1:-1] if pos.endswith(")") else pos
                out[s]["quarantined"][rid] = m.headers.get("lgsp-reason", "").split("\n")
        return out

    def _group_lag(self, topic, group):
        """The lag of one consumer group on a topic from /metrics, or None."""
        _, text = self.d.http("/metrics")
        for line in text.splitlines():
            if line.startswith("lgsp_consumer_lag{"):
                labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
                if labels.get("topic", "").strip('"') == topic and labels.get("group", "").strip('"') == group:
                    return float(line.rsplit(" ", 1)[1])
        return None

    def wait_resolved(self, timeout=600):
        """Waits until the streaming entity resolution (resolve-person) has
        linked all of canonical.person. True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._group_lag("canonical.person", "resolve-person") == 0:
                return True
            time.sleep(0.5)
        return False

    def resolution_summary(self):
        """entity.person against the generator's truth: {"records", "entities",
        "actions": {action: n}, "true_people", "pairs", "true_pairs",
        "correct_pairs"} over the population registers' person records."""
        entity, actions = {}, collections.Counter()
        for m in harness.read_topic(self.d.endpoint, "entity.person", idle=2.0):
            c = json.loads(m.payload)
            entity[c["record"]] = c["entity"]
            actions[c["action"]] += 1
        truth = {}
        for system in ("qn-population", "dn-population"):
            with open(os.path.join(self.world, "truth", system + ".truth.tsv"), encoding="utf-8") as f:
                next(f)
                for line in f:
                    rid, role, ent = line.rstrip("\n").split("\t")[:3]
                    if role == "person":
                        truth[system + ":" + rid] = ent
        recs = [r for r in entity if r in truth]

        def pairs(groups):
            return sum(n * (n - 1) // 2 for n in groups.values())
        both = collections.Counter((entity[r], truth[r]) for r in recs)
        return {"records": len(entity), "entities": len(set(entity.values())), "actions": dict(actions),
                "true_people": len(set(truth[r] for r in recs)),
                "pairs": pairs(collections.Counter(entity[r] for r in recs)),
                "true_pairs": pairs(collections.Counter(truth[r] for r in recs)), "correct_pairs": pairs(both)}

    def _ndxp_lag(self):
        """{sink: lag of its group on its canonical topic (None before it joined)}."""
        _, text = self.d.http("/metrics")
        lag = {name: None for name in NDXP_TOPICS}
        for line in text.splitlines():
            if not line.startswith("lgsp_consumer_lag{"):
                continue
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
            topic, group = labels.get("topic", "").strip('"'), labels.get("group", "").strip('"')
            if NDXP_TOPICS.get(group) == topic:
                lag[group] = float(line.rsplit(" ", 1)[1])
        return lag

    def _resolve_lag(self):
        """The lag of the entity-resolution stage (resolve-person) on
        canonical.person: None when the configuration has no such stage."""
        _, text = self.d.http("/metrics")
        for line in text.splitlines():
            if line.startswith("lgsp_consumer_lag{") and 'topic="canonical.person"' in line \
                    and 'group="resolve-person"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def wait_forwarded(self, timeout=600):
        """Waits until every NDXP sink has forwarded all of its topic (its
        group's lag is 0; a topic nobody published to counts as done), after
        the resolution stage made every entity change."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self._resolve_lag() or 0) > 0:
            time.sleep(0.5)
        while time.monotonic() < deadline:
            lag = self._ndxp_lag()
            if all(v == 0 or v is None and int(self.d.metric("lgsp_topic_messages", topic=NDXP_TOPICS[g]) or 0) == 0
                   for g, v in lag.items()):
                return True
            time.sleep(0.5)
        return False

    def ndxp_summary(self):
        """What the NDXP simulator received, against the canonical topics:
        {"stored": {message_type: n}, "stats": simulator's counts, "missing": ids
        of canonical records NDXP does not hold, "twice": ids stored twice,
        "dead_letters": {topic: n}}."""
        stored = collections.Counter()
        ids = collections.Counter()
        for m in self.ndxp_sim.messages():
            stored[m["message_type"]] += 1
            ids[m["message_id"]] += 1
        want = set()
        for topic in NDXP_TOPICS.values():
            for m in harness.read_topic(self.d.endpoint, topic, idle=2.0):
                want.add(m.id)
        dead = {}
        for topic in NDXP_TOPICS.values():
            dead[topic] = int(self.d.metric("lgsp_topic_messages", topic=topic + ".dlq") or 0)
        return {"stored": dict(stored), "stats": self.ndxp_sim.stats(),
                "missing": sorted(want - set(ids)), "twice": sorted(i for i, n in ids.items() if n > 1),
                "extra": sorted(set(ids) - want), "dead_letters": dead}

    def verify(self, result=None, systems=None):
        """Reads each system's raw topic and checks it against the truth
        (verify_source). {system: [what is wrong]}; empty lists = all there."""
        out = {}
        for s in systems or self.systems:
            n = result[s]["stored"] if result else None
            msgs = harness.read_topic(self.d.endpoint, "raw." + s, expect=n, idle=5)
            out[s] = verify_source(self.world, s, msgs)
        return out

    def stop(self):
        if self.d:
            try:
                self.d.stop()
            finally:
                self.d.kill9()
        if self.sim:
            self.sim.stop()
        if self.ndxp_sim:
            self.ndxp_sim.stop()
        if getattr(self, "simdir", None):
            shutil.rmtree(self.simdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def table(result):
    lines = ["%-14s %10s %10s %11s %9s %12s" % ("source", "generator", "journal", "quarantine", "seconds",
                                                 "records/s")]
    for s, r in result.items():
        sec = r["seconds"]
        rate = r["stored"] / sec if sec else 0
        lines.append("%-14s %10d %10d %11d %9s %12s" % (
            s, r["expected"], r["stored"], r["quarantined"], "%.1f" % sec if sec else "-",
            "%.0f" % rate if sec else "-"))
    return "\n".join(lines)


def main():
    import argparse
    import sys
    ap = argparse.ArgumentParser(description="The six department systems -> lgspd, counted against the generator.")
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--only", default="", help="comma-separated systems (default all six)")
    ap.add_argument("--no-ndxp", action="store_true", help="do not forward to the NDXP simulator")
    a = ap.parse_args()
    systems = [s for s in a.only.split(",") if s] or SYSTEMS
    print("generating the world (lgsp-gen --seed %d --scale %g) ..." % (a.seed, a.scale), flush=True)
    with Departments(a.work, scale=a.scale, seed=a.seed, systems=systems, ndxp=not a.no_ndxp) as dep:
        dep.start()
        total = sum(dep.expected().values())
        print("lgsp-sim serves %d records through six protocols; lgspd %s ingests them "
              "(metrics: http://127.0.0.1:%d/metrics)" % (total, dep.d.endpoint, dep.d.http_port), flush=True)

        def progress(c, want, t):
            got = sum(n for n, _ in c.values())
            print("  %5.1f s: %d of %d records in the journal" % (t, got, total), flush=True)

        res = dep.wait_ingested(timeout=a.timeout, progress=progress)
        print(table(res))
        ok = all(r["stored"] == r["expected"] for r in res.values())
        problems = dep.verify(res)
        for s, ps in problems.items():
            for p in ps:
                print("%s: %s" % (s, p))
        if any(problems.values()):
            print("journal contents against the truth: WRONG")
        else:
            print("journal contents against the truth: every record there once%s" % (
                " (dn-land: one document per parcel, every owner and certificate in it)" if "dn-land" in res else ""))
        ok = ok and not any(problems.values())
        secs = max((r["seconds"] or 0) for r in res.values())
        print("all sources: %d records in %.1f s (%.0f records/s); journal counts %s the generator's" % (
            sum(r["stored"] for r in res.values()), secs, sum(r["stored"] for r in res.values()) / secs
            if secs else 0, "EQUAL" if ok else "DIFFER FROM"))
        mapped_all = dep.wait_mapped()
        ms = dep.mapping_summary()
        print("mapping stage (schemas/mappings -> canonical.person / land_parcel / civil_event):")
        print("%-14s %10s %10s %11s" % ("source", "raw", "canonical", "quarantine"))
        unhandled = 0
        for s in systems:
            raw, can, q = res[s]["stored"], len(ms[s]["canonical_ids"]), len(ms[s]["quarantined"])
            unhandled += raw - can - q
            print("%-14s %10d %10d %11d" % (s, raw, can, q))
        print("mapped %d of %d raw records, %d quarantined with their reasons%s" % (
            sum(len(m["canonical_ids"]) for m in ms.values()), sum(r["stored"] for r in res.values()),
            sum(len(m["quarantined"]) for m in ms.values()),
            "" if mapped_all and unhandled == 0 else ", %d NOT HANDLED" % unhandled))
        ok = ok and mapped_all and unhandled == 0
        resolved = dep.wait_resolved()
        rs = dep.resolution_summary()
        prec = rs["correct_pairs"] / rs["pairs"] if rs["pairs"] else 1.0
        rec = rs["correct_pairs"] / rs["true_pairs"] if rs["true_pairs"] else 1.0
        print("entity resolution, streaming (resolve-person: canonical.person -> entity.person):")
        print("  %d person records -> %d entities (the truth: %d people); %s" % (
            rs["records"], rs["entities"], rs["true_people"],
            ", ".join("%s %d" % kv for kv in sorted(rs["actions"].items()))))
        print("  same-person pairs against the truth: precision %.4f, recall %.4f (%d of %d true pairs)%s" % (
            prec, rec, rs["correct_pairs"], rs["true_pairs"], "" if resolved else ", NOT FINISHED"))
        ok = ok and resolved
        if dep.ndxp:
            t0 = time.monotonic()
            forwarded = dep.wait_forwarded()
            ns = dep.ndxp_summary()
            print("NDXP (lgsp-ndxp-sim at %s; signed JWS over mutual TLS):" % dep.ndxp_sim.url)
            for t in sorted(ns["stored"]):
                print("  %-24s %8d records received" % (t, ns["stored"][t]))
            st = ns["stats"]
            print("  %d requests, %d accepted, %d duplicates (resends answered by NDXP's idempotency), "
                  "%d rejected; dead letters: %s" % (st.get("requests", 0), st.get("accepted", 0),
                                                     st.get("duplicates", 0), st.get("rejected", 0),
                                                     ", ".join("%s %d" % kv for kv in sorted(ns["dead_letters"].items()))))
            good = forwarded and not ns["missing"] and not ns["twice"] and not ns["extra"]
            print("every canonical record at NDXP exactly once: %s%s (%.1f s after the mapping)" % (
                "YES" if good else "NO",
                "" if good else " (%d missing, %d twice, %d unknown)" % (len(ns["missing"]), len(ns["twice"]),
                                                                          len(ns["extra"])),
                time.monotonic() - t0))
            ok = ok and good
        _, body = dep.d.http("/health")
        h = json.loads(body)
        bad = [x for x in h.get("adapters", []) if x["status"] != "running"]
        for x in bad:
            print("adapter %s: %s: %s" % (x["name"], x["status"], x["last_error"]))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
