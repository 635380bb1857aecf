"""ndxputil.py — helpers for the NDXP connector's tests and benchmark: test
certificates (`lgsp certs`), the simulator (lgsp-ndxp-sim) with its control
port, and an lgspd `ndxp` sink block.

    certs = make_certs(dir)
    with Sim(dir, certs) as sim:
        sim.fault(kind="outage", seconds=30)
        sim.messages()            # what NDXP stored: [{message_id, sender, ...}]

The agency ids are made-up test identifiers (docs/ndxp.md), not real codes.
"""

import hashlib
import json
import os
import subprocess
import time
import urllib.request

import harness

SENDER = "999.99.99.T01"     # test identifier: the province
RECEIVER = "999.99.99.T00"   # test identifier: the simulated NDXP


def find_sim():
    env = os.environ.get("LGSP_NDXP_SIM")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(harness.find_lgspd())), "sim", "ndxp", "lgsp-ndxp-sim")


def make_certs(out):
    """`lgsp certs --out OUT`: {name: path} of ca.pem, client.pem, ... sign.pub."""
    subprocess.run([harness.find_lgsp(), "certs", "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    names = ["ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
             "sign.key", "sign.pub"]
    return {n: os.path.join(out, n) for n in names}


class Sim:
    """One lgsp-ndxp-sim on free loopback ports, its store in workdir/ndxp."""

    def __init__(self, workdir, certs, sender=SENDER, receiver=RECEIVER, extra=None, port=0,
                 control_port=0):
        self.workdir = workdir
        self.certs = certs
        self.sender, self.receiver = sender, receiver
        self.extra = extra or []
        self.port, self.control_port = port, control_port
        self.data_dir = os.path.join(workdir, "ndxp")
        self.log_path = os.path.join(workdir, "ndxp-sim.log")
        self.proc = None

    def start(self, timeout=15.0):
        os.makedirs(self.data_dir, exist_ok=True)
        c = self.certs
        args = [find_sim(), "--cert", c["server.pem"], "--key", c["server.key"], "--ca", c["ca.pem"],
                "--sender-key", c["sign.pub"], "--sender-id", self.sender, "--receiver-id", self.receiver,
                "--data-dir", self.data_dir, "--port", str(self.port),
                "--control-port", str(self.control_port)] + self.extra
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        log.close()
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"lgsp-ndxp-sim: https://"):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("lgsp-ndxp-sim exited: %s" % self.log_tail())
        else:
            raise RuntimeError("lgsp-ndxp-sim did not start: %r" % line)
        # "lgsp-ndxp-sim: https://127.0.0.1:P control http://127.0.0.1:Q"
        parts = line.decode().split()
        self.url = parts[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.control = parts[3]
        self.control_port = int(self.control.rsplit(":", 1)[1])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    @property
    def messages_url(self):
        return self.url + "/ndxp/v1/messages"

    def _control(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read()

    def fault(self, **kw):
        """POST /control/fault, e.g. fault(kind="drop", rate=0.05)."""
        return json.loads(self._control("/control/fault", kw) or b"{}")

    def stats(self):
        return json.loads(self._control("/control/stats"))

    def messages(self):
        """What the simulator stored, one dict per accepted message."""
        out = []
        for line in self._control("/control/messages").decode().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out


def sink_adapter(sim, certs, topic, name="ndxp", group=None, batch=1000, credit=4000, **settings):
    """An `adapters:` entry of lgspd.yaml for the ndxp sink towards sim."""
    s = {"url": sim.messages_url, "ca": certs["ca.pem"], "cert": certs["client.pem"],
         "key": certs["client.key"], "signing_key": certs["sign.key"], "sender": SENDER,
         "receiver": RECEIVER, "backoff": "100ms", "backoff_max": "2s", "breaker_open": "1s"}
    s.update({k: str(v) for k, v in settings.items()})
    a = {"name": name, "plugin": "ndxp", "topic": topic, "batch": batch, "credit": credit,
         "restart_backoff": "100ms", "restart_backoff_max": "2s", "settings": s}
    if group:
        a["group"] = group
    return a


def sha256_hex(b):
    return hashlib.sha256(b if isinstance(b, bytes) else b.encode()).hexdigest()
