#!/usr/bin/env bash
# bench/ndxp.sh — `bench/run ndxp`: the NDXP connector (adapters/ndxp) forwarding
# canonical.person to the NDXP simulator (sim/ndxp) with JWS signing (Ed25519)
# and mutual TLS, lgspd and the simulator on this machine (docs/benchmarks.md,
# docs/ndxp.md). bench/ndxp.py does the work; it prints the forwarding rate,
# the p99 latency publish -> NDXP acceptance at a steady arrival rate, the
# drain rate after an outage over the arrival rate, and last:
#   ndxp: <N> records/s, p99 <ms> ms, drain <x>x arrival, lost <n>, duplicated <n>
#
# Environment:
#   NDXP_RECORDS=50000    records published at once (throughput)
#   NDXP_ARRIVAL=500      steady arrival rate, records/s (latency, outage, drain)
#   NDXP_STEADY=15        seconds of steady arrival before the outage (latency)
#   NDXP_OUTAGE=20        seconds of outage (503 with Retry-After)
#   NDXP_IN_FLIGHT=4      the connector's max_in_flight
#   NDXP_BATCH=250        the connector's batch_max
#   NDXP_KEEP=1           keep the work folder (/tmp/lgsp-bench-ndxp-*)
set -euo pipefail

root=${LGSP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${LGSP_BUILD:-$root/build-release}

die() { echo "bench/ndxp: $*" >&2; exit 1; }

for p in bus/lgspd bus/lgsp sim/ndxp/lgsp-ndxp-sim adapters/ndxp/lgsp-adapter-ndxp.so; do
    [ -x "$build/$p" ] || [ -f "$build/$p" ] || die "$build/$p is missing: run bench/run ndxp (it builds $build)"
done
# The Python with pyzmq (Debian's python3-zmq is in /usr/bin's when another python3 is first on PATH).
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import zmq' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || die "python3 with pyzmq is not installed (./deps.sh installs python3-zmq)"
for v in NDXP_RECORDS NDXP_ARRIVAL NDXP_STEADY NDXP_OUTAGE NDXP_IN_FLIGHT NDXP_BATCH; do
    val=${!v:-1}
    [[ "$val" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

export LGSPD=$build/bus/lgspd LGSP_CLI=$build/bus/lgsp LGSP_NDXP_SIM=$build/sim/ndxp/lgsp-ndxp-sim
export LGSP_ADAPTER_PATH=$build/adapters
exec "$py" "$root/bench/ndxp.py"
