#!/usr/bin/python3
"""Tests of lgsp-ndxp-sim (the simulated NDXP) and `lgsp certs` (suite 'sim').

usage: test_ndxp_sim.py TEST --sim LGSP_NDXP_SIM --lgsp LGSP
tests: certs cli accept reject batch tls faults restart rate

Each test makes certificates and keys with `lgsp certs` in a temporary
folder, starts the simulator on free loopback ports (it prints them) and
talks to it over HTTPS with Python's ssl module; the messages are signed with
Ed25519 by the `cryptography` module (Debian: python3-cryptography).
Exit 0 = pass, 1 = fail, 77 = skipped (no cryptography module).
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError:
    print("SKIP: python3-cryptography is not installed", file=sys.stderr)
    sys.exit(77)

FAILS = []
# made-up test identifiers (docs/ndxp.md): not any agency's code
SENDER = "999.99.99.T01"
RECEIVER = "999.99.99.T00"
OTHER_SENDER = "999.99.99.T02"


def fail(msg):
    FAILS.append(msg)
    print("FAIL:", msg, file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def log(*a):
    print(*a, flush=True)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def now_ts(offset_s=0.0):
    t = time.time() + offset_s
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def certs(args, out, *extra):
    r = subprocess.run([args.lgsp, "certs", "--out", out, *extra], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("lgsp certs failed: %s %s" % (r.stdout, r.stderr))
    return r


class Keys:
    """The signing key of a certs folder."""

    def __init__(self, folder):
        with open(os.path.join(folder, "sign.key"), "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.kid = hashlib.sha256(raw).hexdigest()


def header(keys, mid, **over):
    h = {"alg": "EdDSA", "kid": keys.kid, "typ": "ndxp+jws", "message_id": mid,
         "sender": SENDER, "receiver": RECEIVER, "timestamp": now_ts(),
         "message_type": "canonical.person", "content_type": "application/json"}
    for k, v in over.items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return h


def jws(keys, mid, payload=None, hdr=None, sign_with=None, raw_protected=None, raw_payload=None):
    """A flattened JWS; hdr overrides header members (None removes one)."""
    if payload is None:
        payload = {"person_id": "p-" + mid, "n": 1}
    pbytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    h = header(keys, mid, **(hdr or {}))
    prot = raw_protected if raw_protected is not None else b64u(json.dumps(h).encode())
    pay = raw_payload if raw_payload is not None else b64u(pbytes)
    sig = (sign_with or keys).key.sign((prot + "." + pay).encode())
    return {"protected": prot, "payload": pay, "signature": b64u(sig)}, pbytes


# ---- the simulator --------------------------------------------------------

class Sim:
    def __init__(self, args, tmp, certdir, data, extra=(), name="sim"):
        self.cmd = [args.sim, "--cert", os.path.join(certdir, "server.pem"),
                    "--key", os.path.join(certdir, "server.key"),
                    "--ca", os.path.join(certdir, "ca.pem"),
                    "--sender-key", os.path.join(certdir, "sign.pub"), "--sender-id", SENDER,
                    "--receiver-id", RECEIVER, "--data-dir", data, *extra]
        self.errpath = os.path.join(tmp, name + ".err")
        self.certdir = certdir
        self.start()

    def start(self):
        self.err = open(self.errpath, "a")
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"lgsp-ndxp-sim: https://127\.0\.0\.1:(\d+) control http://127\.0\.0\.1:(\d+)$",
                     line.strip())
        if not m:
            self.p.kill()
            self.p.wait()
            raise SystemExit("the simulator did not start: %r; %s" % (line, open(self.errpath).read()))
        self.port, self.cport = int(m.group(1)), int(m.group(2))

    def stop(self):
        """SIGTERM; the exit status must be 0 (under ASan: no leak)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                fail("the simulator did not stop on SIGTERM")
        self.p.stdout.close()
        self.err.close()
        check(self.p.returncode == 0, "the simulator exited with %s on SIGTERM: %s"
              % (self.p.returncode, open(self.errpath).read()[-2000:]))

    def ctx(self, certdir=None, client=True, max_tls=None):
        c = ssl.create_default_context(cafile=os.path.join(self.certdir, "ca.pem"))
        if client:
            d = certdir or self.certdir
            c.load_cert_chain(os.path.join(d, "client.pem"), os.path.join(d, "client.key"))
        if max_tls:
            c.maximum_version = max_tls
        return c

    def conn(self, **kw):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx(**kw),
                                           timeout=60)

    def post_raw(self, body, ctype="application/json", path="/ndxp/v1/messages", method="POST",
                 conn=None, **kw):
        c = conn or self.conn(**kw)
        try:
            c.request(method, path, body=body, headers={"Content-Type": ctype})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            if conn is None:
                c.close()

    def post(self, messages, **kw):
        st, hdr, data = self.post_raw(json.dumps({"messages": messages}).encode(), **kw)
        try:
            j = json.loads(data)
        except ValueError:
            j = None
        return st, hdr, j

    def control(self, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.cport, path),
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def fault(self, **body):
        st, data = self.control("/control/fault", body)
        check(st == 200, "fault %s: %s %s" % (body, st, data))
        return json.loads(data)

    def stats(self):
        st, data = self.control("/control/stats")
        return json.loads(data)

    def messages(self):
        st, data = self.control("/control/messages")
        check(st == 200, "GET /control/messages: %s" % st)
        return [json.loads(l) for l in data.decode().splitlines()]


def setup(args, tmp):
    cd = os.path.join(tmp, "certs")
    certs(args, cd)
    return cd, Keys(cd)


def results_of(j):
    return [(r["status"], r["code"]) for r in j["results"]]


# ---- tests ----------------------------------------------------------------

def t_certs(args, tmp):
    """lgsp certs: the files, their modes, the certificates' contents, no
    overwrite without --force, the kid printed."""
    cd = os.path.join(tmp, "c")
    r = certs(args, cd, "--days", "30")
    names = ["ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
             "sign.key", "sign.pub"]
    for n in names:
        p = os.path.join(cd, n)
        if not check(os.path.exists(p), "%s missing" % n):
            continue
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if n.endswith(".key"):
            check(mode == 0o600, "%s has mode %o, not 600" % (n, mode))
        else:
            check(mode == 0o644, "%s has mode %o" % (n, mode))
    check(not [f for f in os.listdir(cd) if f.startswith(".")], "temporary files left behind")
    keys = Keys(cd)
    check(("kid " + keys.kid) in r.stdout, "the kid printed is not sha256 of the raw public key: %s"
          % r.stdout)

    def load(n):
        with open(os.path.join(cd, n), "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    ca, srv, cli = load("ca.pem"), load("server.pem"), load("client.pem")
    for c, n in ((ca, "ca"), (srv, "server"), (cli, "client")):
        check(isinstance(c.public_key(), ec.EllipticCurvePublicKey)
              and c.public_key().curve.name == "secp256r1", "%s key is not P-256" % n)
        # cryptography >= 42 has the _utc forms and deprecates the others
        after = getattr(c, "not_valid_after_utc", None) or c.not_valid_after
        before = getattr(c, "not_valid_before_utc", None) or c.not_valid_before
        days = (after - before).days
        check(29 <= days <= 31, "%s valid %d days, asked 30" % (n, days))
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    check(bc.value.ca and bc.critical, "the CA is not a critical CA:TRUE")
    check(srv.issuer == ca.subject and cli.issuer == ca.subject, "leaf issuer is not the CA")
    ca.public_key().verify(srv.signature, srv.tbs_certificate_bytes, ec.ECDSA(srv.signature_hash_algorithm))
    ca.public_key().verify(cli.signature, cli.tbs_certificate_bytes, ec.ECDSA(cli.signature_hash_algorithm))
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    check("localhost" in san.get_values_for_type(x509.DNSName), "server SAN lacks localhost")
    check([str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"],
          "server SAN lacks IP 127.0.0.1")
    eku = lambda c: list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    check(eku(srv) == [ExtendedKeyUsageOID.SERVER_AUTH], "server EKU %s" % eku(srv))
    check(eku(cli) == [ExtendedKeyUsageOID.CLIENT_AUTH], "client EKU %s" % eku(cli))
    check(srv.serial_number != cli.serial_number, "same serial twice")
    with open(os.path.join(cd, "sign.pub"), "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    check(isinstance(pub, ed25519.Ed25519PublicKey), "sign.pub is not Ed25519")
    sig = keys.key.sign(b"x")
    pub.verify(sig, b"x")
    # no overwrite without --force; nothing changed
    before = open(os.path.join(cd, "ca.pem")).read()
    r = subprocess.run([args.lgsp, "certs", "--out", cd], capture_output=True, text=True)
    check(r.returncode == 1 and "exists" in r.stderr, "overwrote without --force: %s %s"
          % (r.returncode, r.stderr))
    check(open(os.path.join(cd, "ca.pem")).read() == before, "ca.pem changed without --force")
    r = subprocess.run([args.lgsp, "certs", "--out", cd, "--force"], capture_output=True, text=True)
    check(r.returncode == 0 and open(os.path.join(cd, "ca.pem")).read() != before,
          "--force did not make a new CA")
    check(stat.S_IMODE(os.stat(os.path.join(cd, "ca.key")).st_mode) == 0o600,
          "ca.key mode after --force")
    # usage errors
    for bad in (["certs"], ["certs", "--out", cd, "--days", "0"], ["certs", "--out", cd, "x"],
                ["certs", "--bogus"]):
        r = subprocess.run([args.lgsp, *bad], capture_output=True, text=True)
        check(r.returncode == 2, "lgsp %s: exit %s, not 2" % (" ".join(bad), r.returncode))
    r = subprocess.run([args.lgsp, "certs", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "sign.pub" in r.stdout, "lgsp certs --help")


def t_cli(args, tmp):
    """lgsp-ndxp-sim's option errors."""
    cd, _ = setup(args, tmp)
    base = ["--cert", cd + "/server.pem", "--key", cd + "/server.key", "--ca", cd + "/ca.pem",
            "--sender-key", cd + "/sign.pub", "--sender-id", SENDER, "--receiver-id", RECEIVER,
            "--data-dir", tmp + "/d"]
    cases = [
        (["--listen", "0.0.0.0"], 2, "only 127.0.0.1"),
        (["--receiver-id", "999.99.99.t00"], 2, "receiver-id"),
        (["--sender-id", OTHER_SENDER], 2, "one id per key"),
        (["--port", "70000"], 2, "--port"),
        (["--max-skew", "x"], 2, "--max-skew"),
    ]
    for extra, want, text in cases:
        r = subprocess.run([args.sim, *base, *extra], capture_output=True, text=True, timeout=60)
        check(r.returncode == want and text in r.stderr,
              "%s: exit %s (want %s), %r" % (extra, r.returncode, want, r.stderr))
    r = subprocess.run([args.sim, *base[:4]], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "--ca is required" in r.stderr, "missing --ca: %r" % r.stderr)
    bad = list(base)
    bad[bad.index(cd + "/sign.pub")] = cd + "/server.pem"      # not a public key PEM
    r = subprocess.run([args.sim, *bad], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "sign" not in r.stdout, "a certificate as --sender-key: %s %r"
          % (r.returncode, r.stderr))
    r = subprocess.run([args.sim, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--sender-key" in r.stdout, "--help")


def t_accept(args, tmp):
    """accepted, stored with the right fields; duplicate (again, with an
    old timestamp, with another payload); the store's lines."""
    cd, keys = setup(args, tmp)
    sim = Sim(args, tmp, cd, tmp + "/data")
    try:
        msgs, payloads = [], {}
        for i in range(5):
            m, p = jws(keys, "acc-%d" % i, payload={"i": i, "name": "Nguyễn Văn A"})
            msgs.append(m)
            payloads["acc-%d" % i] = p
        # a payload that is not JSON under a non-JSON content type is fine
        m, p = jws(keys, "acc-text", payload=b"\x00\x01 plain", hdr={"content_type": "text/plain"})
        msgs.append(m)
        payloads["acc-text"] = p
        st, hdr, j = sim.post(msgs)
        check(st == 200, "batch: %s %s" % (st, j))
        check(hdr.get("Content-Type", "").startswith("application/json"), "content type %s" % hdr)
        check([r["message_id"] for r in j["results"]] == [*("acc-%d" % i for i in range(5)), "acc-text"],
              "results not in request order: %s" % j)
        check(all(r["status"] == "accepted" and r["code"] == 200 for r in j["results"]),
              "not all accepted: %s" % j)
        stored = sim.messages()
        check(len(stored) == 6, "%d stored, want 6" % len(stored))
        for s in stored:
            p = payloads[s["message_id"]]
            check(s["sha256"] == hashlib.sha256(p).hexdigest(), "sha256 of %s" % s["message_id"])
            check(s["sender"] == SENDER and s["message_type"] == "canonical.person"
                  and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", s["accepted_at"]),
                  "stored fields: %s" % s)
            if s["message_id"] == "acc-text":
                check(base64.urlsafe_b64decode(s["payload_b64"] + "==") == p, "payload_b64")
            else:
                check(s["payload"] == json.loads(p), "stored payload differs")
        check([s["seq"] for s in stored] == list(range(1, 7)), "seq")
        # the same messages again: duplicate, nothing stored
        st, _, j = sim.post(msgs)
        check(st == 200 and all(r["status"] == "duplicate" and r["code"] == 200 for r in j["results"]),
              "resend: %s" % j)
        # re-signed an hour later (timestamp out of skew): still duplicate
        m, _ = jws(keys, "acc-0", payload={"i": 0, "name": "Nguyễn Văn A"},
                   hdr={"timestamp": now_ts(-3600)})
        st, _, j = sim.post([m])
        check(results_of(j) == [("duplicate", 200)], "duplicate outside the skew: %s" % j)
        # same id, another payload: duplicate, counted as differing
        m, _ = jws(keys, "acc-1", payload={"other": True})
        st, _, j = sim.post([m])
        check(results_of(j) == [("duplicate", 200)], "duplicate with another payload: %s" % j)
        # twice in one batch: accepted then duplicate
        m, _ = jws(keys, "acc-twice")
        st, _, j = sim.post([m, m])
        check(results_of(j) == [("accepted", 200), ("duplicate", 200)], "twice in a batch: %s" % j)
        check(len(sim.messages()) == 7, "stored after duplicates")
        s = sim.stats()
        check(s["accepted"] == 7 and s["duplicates"] == 9 and s["duplicates_differing"] == 1
              and s["stored"] == 7 and s["rejected"] == 0, "stats: %s" % s)
        # keep-alive: several batches on one connection
        c = sim.conn()
        for i in range(3):
            m, _ = jws(keys, "ka-%d" % i)
            st, _, data = sim.post_raw(json.dumps({"messages": [m]}).encode(), conn=c)
            check(st == 200 and json.loads(data)["results"][0]["status"] == "accepted",
                  "keep-alive request %d: %s" % (i, data))
        c.close()
        # TLS 1.2 works as well as 1.3
        m, _ = jws(keys, "tls12")
        st, _, j = sim.post([m], max_tls=ssl.TLSVersion.TLSv1_2)
        check(st == 200 and results_of(j) == [("accepted", 200)], "TLS 1.2: %s %s" % (st, j))
    finally:
        sim.stop()


def t_reject(args, tmp):
    """Every rejection reason: its code and the field its reason names."""
    cd, keys = setup(args, tmp)
    other_cd = os.path.join(tmp, "other")
    certs(args, other_cd)
    other = Keys(other_cd)
    sim = Sim(args, tmp, cd, tmp + "/data")
    try:
        good, _ = jws(keys, "r-good")
        pad_payload = dict(good, payload=good["payload"] + "=" * (-len(good["payload"]) % 4 or 4))
        hdr_b64 = b64u(json.dumps(header(keys, "r-x")).encode())
        cases = [
            ("not an object", ["x"], 400, "message"),
            ("no protected", [dict((k, v) for k, v in good.items() if k != "protected")], 400, "protected"),
            ("padded payload", [pad_payload], 400, "payload"),
            ("signature not base64url", [dict(good, signature="ab+/")], 400, "signature"),
            ("header not JSON", [jws(keys, "r-1", raw_protected=b64u(b"{nope"))[0]], 400, "header"),
            ("crit", [jws(keys, "r-2", hdr={"crit": ["exp"]})[0]], 400, "header"),
            ("alg", [jws(keys, "r-3", hdr={"alg": "ES256"})[0]], 400, "alg"),
            ("typ", [jws(keys, "r-4", hdr={"typ": "JWT"})[0]], 400, "typ"),
            ("kid form", [jws(keys, "r-5", hdr={"kid": keys.kid.upper()})[0]], 400, "kid"),
            ("message_id empty", [jws(keys, "")[0]], 400, "message_id"),
            ("message_id long", [jws(keys, "x" * 129)[0]], 400, "message_id"),
            ("message_id control", [jws(keys, "a\nb")[0]], 400, "message_id"),
            ("message_id not string", [jws(keys, "r-6", hdr={"message_id": 7})[0]], 400, "message_id"),
            ("sender form", [jws(keys, "r-7", hdr={"sender": "99.99.99.T01"})[0]], 400, "sender"),
            ("receiver form", [jws(keys, "r-8", hdr={"receiver": "999.99.99.t00"})[0]], 400, "receiver"),
            ("timestamp offset", [jws(keys, "r-9", hdr={"timestamp": "2026-11-23T10:00:00.000+07:00"})[0]],
             400, "timestamp"),
            ("timestamp date", [jws(keys, "r-10", hdr={"timestamp": "2026-02-30T10:00:00.000Z"})[0]],
             400, "timestamp"),
            ("message_type missing", [jws(keys, "r-11", hdr={"message_type": None})[0]], 400, "message_type"),
            ("content_type missing", [jws(keys, "r-12", hdr={"content_type": None})[0]], 400, "content_type"),
            ("unknown kid", [jws(keys, "r-13", hdr={"kid": other.kid}, sign_with=other)[0]], 401, "kid"),
            ("signed by another key", [jws(keys, "r-14", sign_with=other)[0]], 401, "signature"),
            ("payload changed", [dict(good, payload=b64u(b'{"person_id":"p-other"}'))], 401, "signature"),
            ("signature short", [dict(good, signature=b64u(b"\x01" * 32))], 401, "signature"),
            ("sender not bound", [jws(keys, "r-15", hdr={"sender": OTHER_SENDER})[0]], 403, "sender"),
            ("receiver not us", [jws(keys, "r-16", hdr={"receiver": "999.99.99.T09"})[0]], 403, "receiver"),
            ("payload not JSON", [jws(keys, "r-17", payload=b"{not json")[0]], 422, "payload"),
            ("payload not JSON (+json)", [jws(keys, "r-18", payload=b"<x/>",
                                              hdr={"content_type": "application/fhir+json"})[0]],
             422, "payload"),
            ("timestamp skew", [jws(keys, "r-19", hdr={"timestamp": now_ts(-400)})[0]], 422, "timestamp"),
            ("timestamp ahead", [jws(keys, "r-20", hdr={"timestamp": now_ts(400)})[0]], 422, "timestamp"),
        ]
        for name, msgs, code, field in cases:
            st, _, j = sim.post(msgs)
            if not check(st == 200 and j and len(j["results"]) == 1, "%s: %s %s" % (name, st, j)):
                continue
            r = j["results"][0]
            check(r["status"] == "rejected" and r["code"] == code and r["reason"].startswith(field + ":"),
                  "%s: want rejected %d '%s: ...', got %s" % (name, code, field, r))
        # the message_id is echoed when the header can be read
        st, _, j = sim.post([jws(keys, "r-echo", hdr={"alg": "none"})[0]])
        check(j["results"][0]["message_id"] == "r-echo", "message_id not echoed: %s" % j)
        # a rejected message does not block a good one of the same id later
        st, _, j = sim.post([jws(keys, "r-17")[0]])
        check(results_of(j) == [("accepted", 200)], "resent after rejection: %s" % j)
        # a batch mixes outcomes, in order
        st, _, j = sim.post([jws(keys, "mix-1")[0], jws(keys, "mix-2", sign_with=other)[0],
                             jws(keys, "mix-1")[0]])
        check(results_of(j) == [("accepted", 200), ("rejected", 401), ("duplicate", 200)], "mix: %s" % j)
        s = sim.stats()
        check(s["stored"] == 2 and len(sim.messages()) == 2, "stored after rejections: %s" % s["stored"])
        check(s["rejected_by_code"]["400"] == 20 and s["rejected_by_code"]["401"] == 5
              and s["rejected_by_code"]["403"] == 2 and s["rejected_by_code"]["422"] == 4,
              "rejected by code: %s" % s["rejected_by_code"])
    finally:
        sim.stop()


def t_batch(args, tmp):
    """Whole-request answers: 400 (not JSON, no messages, 0 or 1001
    messages, over 16 MiB, not application/json), 404, 405."""
    cd, keys = setup(args, tmp)
    sim = Sim(args, tmp, cd, tmp + "/data")
    try:
        m, _ = jws(keys, "b-1")
        cases = [
            ("not JSON", b"{", "application/json", "POST", "/ndxp/v1/messages", 400),
            ("no messages", b'{"msgs":[]}', "application/json", "POST", "/ndxp/v1/messages", 400),
            ("messages not array", b'{"messages":{}}', "application/json", "POST", "/ndxp/v1/messages", 400),
            ("empty", b'{"messages":[]}', "application/json", "POST", "/ndxp/v1/messages", 400),
            ("1001", json.dumps({"messages": [m] * 1001}).encode(), "application/json", "POST",
             "/ndxp/v1/messages", 400),
            ("content type", json.dumps({"messages": [m]}).encode(), "text/plain", "POST",
             "/ndxp/v1/messages", 400),
            ("path", b"{}", "application/json", "POST", "/ndxp/v2/messages", 404),
            ("method", b"", "application/json", "GET", "/ndxp/v1/messages", 405),
        ]
        for name, body, ctype, method, path, want in cases:
            st, _, data = sim.post_raw(body, ctype=ctype, method=method, path=path)
            check(st == want and "error" in json.loads(data), "%s: %s %s" % (name, st, data[:200]))
        big = b'{"messages":["' + b"a" * (16 * 1024 * 1024) + b'"]}'
        st, _, data = sim.post_raw(big)
        check(st == 400 and b"16777216" in data, "over 16 MiB: %s %s" % (st, data[:200]))
        # exactly 1000 is fine
        msgs = [jws(keys, "b-%d" % i)[0] for i in range(1000)]
        st, _, j = sim.post(msgs)
        check(st == 200 and len(j["results"]) == 1000
              and all(r["status"] == "accepted" for r in j["results"]), "1000 messages: %s" % st)
        check(sim.stats()["stored"] == 1000, "1000 stored")
        s = sim.stats()
        check(s["bad_requests"] == 9, "bad_requests %s" % s["bad_requests"])
    finally:
        sim.stop()


def t_tls(args, tmp):
    """No client certificate, one from another CA, a server certificate as
    client: 403, nothing stored. The server's certificate from another CA is
    refused by the client (the pinned CA)."""
    cd, keys = setup(args, tmp)
    other_cd = os.path.join(tmp, "other")
    certs(args, other_cd)
    sim = Sim(args, tmp, cd, tmp + "/data")
    try:
        m, _ = jws(keys, "t-1")
        for name, kw in (("no client certificate", {"client": False}),
                         ("client certificate of another CA", {"certdir": other_cd})):
            try:
                st, hdr, j = sim.post([m], **kw)
                check(st == 403 and j["error"].startswith("client certificate:"),
                      "%s: %s %s" % (name, st, j))
                check(hdr.get("Connection", "").lower() == "close", "%s: connection not closed" % name)
            except (ssl.SSLError, ConnectionError) as e:
                log("%s: refused during the handshake (%s)" % (name, e))
        # a certificate of the right CA without the clientAuth purpose
        c = ssl.create_default_context(cafile=os.path.join(cd, "ca.pem"))
        c.load_cert_chain(os.path.join(cd, "server.pem"), os.path.join(cd, "server.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=c, timeout=60)
        st, _, data = sim.post_raw(json.dumps({"messages": [m]}).encode(), conn=conn)
        conn.close()
        check(st == 403 and b"purpose" in data, "server cert as client: %s %s" % (st, data))
        # the client pins another CA: the handshake fails
        c = ssl.create_default_context(cafile=os.path.join(other_cd, "ca.pem"))
        c.load_cert_chain(os.path.join(cd, "client.pem"), os.path.join(cd, "client.key"))
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=c, timeout=60)
            conn.request("GET", "/")
            fail("a client pinning another CA got through")
        except ssl.SSLCertVerificationError:
            pass
        s = sim.stats()
        check(s["refused_cert"] == 3 and s["stored"] == 0, "stats: %s" % s)
        # plain HTTP on the TLS port gets no answer
        sock = socket.create_connection(("127.0.0.1", sim.port), timeout=30)
        sock.sendall(b"POST /ndxp/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        try:
            data = sock.recv(100)
        except ConnectionError:
            data = b""
        sock.close()
        check(not data.startswith(b"HTTP/"), "plain HTTP answered: %r" % data)
        # and the right client still works
        st, _, j = sim.post([m])
        check(results_of(j) == [("accepted", 200)], "after the refusals: %s" % j)
    finally:
        sim.stop()


def t_faults(args, tmp):
    """Each fault kind, its count, clearing; bad commands."""
    cd, keys = setup(args, tmp)
    sim = Sim(args, tmp, cd, tmp + "/data", extra=["--seed", "7"])
    n = [0]

    def batch(k=3):
        out = []
        for _ in range(k):
            n[0] += 1
            out.append(jws(keys, "f-%d" % n[0])[0])
        return out

    def send_expect_no_answer(msgs):
        try:
            st, _, j = sim.post(msgs)
            return "answered %s %s" % (st, j)
        except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError):
            return None
    try:
        # outage: 503 with Retry-After for everything, nothing stored
        f = sim.fault(kind="outage", seconds=120)
        check("outage" in f["active"], "outage not active: %s" % f)
        msgs = batch()
        st, hdr, j = sim.post(msgs)
        ra = hdr.get("Retry-After", "")
        check(st == 503 and ra.isdigit() and 1 <= int(ra) <= 120, "outage: %s %s %s" % (st, ra, j))
        check(sim.stats()["stored"] == 0, "stored during the outage")
        sim.fault(kind="none")
        st, _, j = sim.post(msgs)
        check(st == 200 and all(r["status"] == "accepted" for r in j["results"]), "after outage: %s" % j)

        # drop: no answer, nothing stored; then the resend is accepted (not duplicate)
        sim.fault(kind="drop", rate=1)
        msgs = batch()
        why = send_expect_no_answer(msgs)
        check(why is None, "drop: %s" % why)
        check(sim.stats()["stored"] == 3, "drop stored something")
        sim.fault(kind="none")
        st, _, j = sim.post(msgs)
        check(all(r["status"] == "accepted" for r in j["results"]), "resend after drop: %s" % j)

        # lost_ack: stored, then no answer; the resend is all duplicates
        sim.fault(kind="lost_ack", rate=1, count=1)
        msgs = batch()
        why = send_expect_no_answer(msgs)
        check(why is None, "lost_ack: %s" % why)
        check(sim.stats()["stored"] == 9, "lost_ack did not store the batch")
        st, _, j = sim.post(msgs)          # count 1: off again
        check(st == 200 and all(r["status"] == "duplicate" for r in j["results"]),
              "resend after lost ack: %s" % j)
        ids = [s["message_id"] for s in sim.messages()]
        check(len(ids) == len(set(ids)) == 9, "stored twice: %s" % ids)

        # reject: 422 injected for what would be accepted; duplicates stay duplicates
        sim.fault(kind="reject", rate=1)
        msgs = batch(2)
        st, _, j = sim.post(msgs + [jws(keys, "f-1")[0]])
        check([(r["status"], r["code"], r["reason"]) for r in j["results"]]
              == [("rejected", 422, "injected")] * 2 + [("duplicate", 200, "already accepted")],
              "reject: %s" % j)
        sim.fault(kind="none")
        st, _, j = sim.post(msgs)
        check(all(r["status"] == "accepted" for r in j["results"]), "after injected rejects: %s" % j)

        # slow: answered, late (a lower bound only)
        sim.fault(kind="slow", ms=300, rate=1)
        t0 = time.monotonic()
        st, _, j = sim.post(batch(1))
        check(st == 200 and time.monotonic() - t0 >= 0.3, "slow: %s" % st)
        sim.fault(kind="none")

        # a rate below 1 hits some requests, not all (seeded draws)
        sim.fault(kind="drop", rate=0.5)
        answered = 0
        for i in range(24):
            if send_expect_no_answer(batch(1)) is not None:
                answered += 1
        sim.fault(kind="none")
        check(0 < answered < 24, "drop rate 0.5 answered %d of 24" % answered)

        s = sim.stats()
        h = s["faults"]["hits"]
        check(h["outage"] == 1 and h["drop"] == 1 + (24 - answered) and h["lost_ack"] == 1
              and h["reject"] == 2 and h["slow"] == 1, "fault hits: %s" % h)
        check(s["faults"]["active"] == {}, "faults left active: %s" % s["faults"]["active"])
        check(s["stored"] == 12 + answered and len(sim.messages()) == 12 + answered,
              "stored %s, want %d" % (s["stored"], 12 + answered))
        # bad commands
        for body in ({"kind": "flood"}, {"kind": "drop", "rate": 2}, {"kind": "drop", "rat": 1},
                     {"kind": "outage"}, {"kind": "slow", "rate": 1}, {"rate": 1}):
            st, data = sim.control("/control/fault", body)
            check(st == 400 and "error" in json.loads(data), "fault %s: %s %s" % (body, st, data))
        st, _ = sim.control("/control/nothing")
        check(st == 404, "control 404")
    finally:
        sim.stop()


def t_restart(args, tmp):
    """The store and the dedup survive a restart; a torn last line is cut; a
    damaged line followed by good ones is refused."""
    cd, keys = setup(args, tmp)
    data = tmp + "/data"
    sim = Sim(args, tmp, cd, data)
    msgs = [jws(keys, "s-%d" % i)[0] for i in range(10)]
    try:
        st, _, j = sim.post(msgs)
        check(all(r["status"] == "accepted" for r in j["results"]), "first: %s" % j)
        before = sim.messages()
    finally:
        sim.stop()
    sim.start()
    try:
        check(sim.stats()["stored"] == 10 and sim.messages() == before, "store after restart")
        st, _, j = sim.post(msgs)
        check(all(r["status"] == "duplicate" for r in j["results"]), "dedup after restart: %s" % j)
    finally:
        sim.stop()
    # kill -9, then a half-written line at the end (a crash during a write)
    sim.start()
    sim.p.kill()
    sim.p.wait()
    sim.p.stdout.close()
    sim.err.close()
    path = os.path.join(data, "messages.jsonl")
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b'{"seq":11,"message_id":"s-torn","sen')
    sim.start()
    try:
        check(sim.stats()["stored"] == 10, "torn line counted")
        check(os.path.getsize(path) == size, "the torn line was not cut")
        st, _, j = sim.post([jws(keys, "s-torn")[0]])
        check(results_of(j) == [("accepted", 200)], "the torn message is new: %s" % j)
    finally:
        sim.stop()
    # a damaged line in the middle: refused
    lines = open(path, "rb").read().split(b"\n")
    lines[3] = b"garbage"
    with open(path, "wb") as f:
        f.write(b"\n".join(lines))
    r = subprocess.run(sim.cmd, capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "damaged" in r.stderr, "damaged store accepted: %s %r"
          % (r.returncode, r.stderr))


def t_rate(args, tmp):
    """--max-rate: over the rate, 429 with Retry-After."""
    cd, keys = setup(args, tmp)
    # 0.001/s: one request, then the bucket is empty for 1000 s
    sim = Sim(args, tmp, cd, tmp + "/data", extra=["--max-rate", "0.001"])
    try:
        st, _, j = sim.post([jws(keys, "q-1")[0]])
        check(st == 200, "first request: %s" % st)
        st, hdr, j = sim.post([jws(keys, "q-2")[0]])
        check(st == 429 and hdr.get("Retry-After") == "1" and "error" in j, "second: %s %s" % (st, j))
        s = sim.stats()
        check(s["rate_limited"] == 1 and s["stored"] == 1, "stats: %s" % s)
    finally:
        sim.stop()


TESTS = {"certs": t_certs, "cli": t_cli, "accept": t_accept, "reject": t_reject,
         "batch": t_batch, "tls": t_tls, "faults": t_faults, "restart": t_restart, "rate": t_rate}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--sim", required=True)
    ap.add_argument("--lgsp", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ndxp-sim-") as tmp:
        try:
            TESTS[args.test](args, tmp)
        except Exception as e:      # an unexpected exception is a failure, with its trace
            import traceback
            traceback.print_exc()
            fail("%s: %r" % (args.test, e))
    if FAILS:
        print("%d failure(s)" % len(FAILS), file=sys.stderr)
        return 1
    log("ok:", args.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
