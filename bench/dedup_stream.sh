#!/usr/bin/env bash
# bench/dedup_stream.sh — the streaming figure of `bench/run dedup`: the link
# latency of the streaming stage of entity resolution (adapters/resolve) in
# the real lgspd (docs/entity-resolution.md).
#
# Makes a world once with lgsp-gen (both population registers) and maps it
# with lgsp map to canonical person records (kept in the build folder), starts
# lgspd with the stage reading canonical.person (a fresh entity store, the
# default model config/er/person.model.json), and publishes the records at a
# steady rate below the stage's capacity, so that the figure is the time to
# link one record (its blocking keys looked up in the store, candidates
# scored, the entity chosen, store and journal committed), not time spent
# queued behind a backlog. The latency is measured by the stage itself: the
# input's publish time to the entity change committed to the journal (its
# /health detail). The last line:
#   stream: <n> records, link latency p50 <ms> ms, p99 <ms> ms
#
# Environment:
#   DEDUP_STREAM_SCALE=0.01   generator scale (0.01 ≈ 31,000 person records)
#   DEDUP_STREAM_RATE=500     records published per second
#   DEDUP_SEED=1
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}
scale=${DEDUP_STREAM_SCALE:-0.01}
rate=${DEDUP_STREAM_RATE:-500}
seed=${DEDUP_SEED:-1}
data=$root/../shared/data

die() { echo "bench/dedup_stream: $*" >&2; exit 1; }

gen=$build/sim/gen/lgsp-gen
lgsp=$build/bus/lgsp
lgspd=$build/bus/lgspd
for x in "$gen" "$lgsp" "$lgspd"; do
    [ -x "$x" ] || die "$x is missing: build $build first"
done
[ -e "$build/adapters/resolve/lgsp-adapter-resolve.so" ] || die "the resolve plugin is missing in $build/adapters"
[[ "$scale" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DEDUP_STREAM_SCALE: '$scale' is not a number"
[[ "$rate" =~ ^[1-9][0-9]*$ ]] || die "DEDUP_STREAM_RATE must be a positive integer"
[[ "$seed" =~ ^[0-9]+$ ]] || die "DEDUP_SEED must be a whole number"

export LGSP_DATA=$data LGSP_SCHEMAS=$root/schemas

world=$build/bench-dedup-stream-world-$scale-$seed
if [ ! -s "$world/ready" ]; then
    echo "bench/dedup_stream: generating and mapping the world (scale $scale, seed $seed) in $world" >&2
    rm -rf "$world"
    mkdir -p "$world"
    "$gen" --seed "$seed" --scale "$scale" --out "$world/w" --data "$data" --quiet >&2
    "$lgsp" map -m "$root/schemas/mappings/qn-population.yaml" -i "$world/w/qn-population/persons.jsonl" \
        >"$world/canonical.jsonl" 2>"$world/map.log" || true
    "$lgsp" map -m "$root/schemas/mappings/dn-population.yaml" -i "$world/w/dn-population/congdan.xml" \
        >>"$world/canonical.jsonl" 2>>"$world/map.log" || true
    rm -rf "$world/w"
    echo ok >"$world/ready"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lgsp-dedup-stream.XXXXXX")
trap 'rm -rf "$work"' EXIT

LGSPD=$lgspd LGSP_ADAPTER_PATH=$build/adapters PYTHONPATH=$root/tests/integration \
    /usr/bin/python3 - "$world/canonical.jsonl" "$work" "$rate" "$root/config/er" <<'EOF'
import json, re, sys, time
import harness, pyclient

canonical, work, rate, er = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(canonical, encoding="utf-8") as f:
    recs = [l for l in f if l.strip()]
msgs = []
for i, line in enumerate(recs):
    p = json.loads(line)["provenance"]
    msgs.append(("c:%08d" % i, "%s:%s" % (p["source_system"], p["source_record_id"]), None, line.rstrip("\n")))

d = harness.Lgspd(work + "/lgspd", map_size="4GiB", log_level="warn", adapters=[
    {"name": "resolve-person", "plugin": "resolve", "topic": "canonical.person", "output": "entity.person",
     "batch": 200, "credit": 1000,
     "settings": {"spec": er + "/person.yaml", "model": er + "/person.model.json", "store": work + "/store"}}])
d.start()
try:
    def detail():
        h = json.loads(d.http("/health")[1])
        return [a for a in h["adapters"] if a["name"] == "resolve-person"][0].get("detail", "")

    step = 0.02                                  # a small burst every 20 ms
    per = max(1, int(rate * step))
    t0 = time.monotonic()
    with pyclient.Client(d.endpoint, "bench") as c:
        c.hello()
        for k in range(0, len(msgs), per):
            c.publish_async("canonical.person", msgs[k:k + per])
            due = t0 + (k + per) / rate
            while True:
                c.poll(0)
                left = due - time.monotonic()
                if left <= 0:
                    break
                c.poll(min(left, step))
        end = time.monotonic() + 120
        while c.unanswered() and time.monotonic() < end:
            c.poll(0.1)
    sent = time.monotonic() - t0
    want = len(msgs)
    deadline = time.monotonic() + 600
    m = None
    while time.monotonic() < deadline:
        m = re.search(r"link latency p50 ([0-9.]+) ms, p99 ([0-9.]+) ms \(([0-9]+)\)", detail())
        if m and int(m.group(3)) >= want:
            break
        time.sleep(1.0)
    if not m or int(m.group(3)) < want:
        sys.exit("bench/dedup_stream: the stage linked %s of %d records: %s" % (m and m.group(3), want, detail()))
    print("bench/dedup_stream: %d records published in %.1f s (%d/s); %s" % (want, sent, rate, detail()),
          file=sys.stderr)
    print("stream: %d records, link latency p50 %s ms, p99 %s ms" % (want, m.group(1), m.group(2)))
finally:
    d.stop()
EOF
