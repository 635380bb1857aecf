"""harness.py — start and stop a real lgspd for integration tests.

    with Lgspd(tmpdir, security="plain") as d:
        client = pyclient.Client(d.endpoint, "tester")
        ...
        d.kill9(); d.start()          # same ports, same journal

Every daemon listens on 127.0.0.1 only. The first start lets the kernel pick
free ports (ZeroMQ's "*" and HTTP port 0); later starts reuse them, so clients
reconnect to the same endpoint after a restart.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def find_lgspd():
    """The lgspd under test: $LGSPD (set by meson) or a build dir's."""
    env = os.environ.get("LGSPD")
    if env:
        return env
    for d in sorted(os.listdir(ROOT)):
        p = os.path.join(ROOT, d, "bus", "lgspd")
        if d.startswith("build") and os.access(p, os.X_OK):
            return p
    raise RuntimeError("lgspd not found: set LGSPD")


def find_lgsp():
    env = os.environ.get("LGSP_CLI")
    if env:
        return env
    return os.path.join(os.path.dirname(find_lgspd()), "lgsp")


def keypair():
    """A Curve keypair as (public, secret) Z85 text."""
    pub, sec = zmq.curve_keypair()
    return pub.decode(), sec.decode()


def _yaml_str(v):
    return json.dumps(v)  # JSON strings are valid YAML scalars


class Lgspd:
    """One lgspd process with its own config, journal and log in workdir."""

    def __init__(self, workdir, security="plain", clients=None, admins=None,
                 defaults=None, rules=None, map_size="256MiB", heartbeat_ms=500,
                 log_level="info", bus=None, journal=None, adapters=None, adapters_yaml=None):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.security = security
        self.clients = clients or []          # [(name, public_key)]
        self.admins = admins if admins is not None else []
        self.defaults = defaults or {}
        self.rules = rules or []
        self.map_size = map_size
        self.heartbeat_ms = heartbeat_ms
        self.log_level = log_level
        self.bus = bus or {}
        self.journal = journal or {}
        self.adapters = adapters or []        # list of dicts, as in lgspd.yaml's adapters:
        self.adapters_yaml = adapters_yaml    # or the section as YAML text ("adapters:\n  - ...")
        self.journal_path = os.path.join(workdir, "journal")
        self.config_path = os.path.join(workdir, "lgspd.yaml")
        self.log_path = os.path.join(workdir, "lgspd.log")
        self.ready_path = os.path.join(workdir, "ready.json")
        self.server_public, self.server_secret = keypair()
        self.bus_port = None
        self.http_port = None
        self.proc = None
        self.endpoint = None

    # -- configuration -------------------------------------------------
    def write_config(self):
        bus_ep = "tcp://127.0.0.1:%s" % (self.bus_port or "*")
        lines = [
            "log_level: %s" % self.log_level,
            "bus:",
            "  endpoint: %s" % _yaml_str(bus_ep),
            "  heartbeat_ms: %d" % self.heartbeat_ms,
        ]
        lines += ["  %s: %s" % (k, v) for k, v in self.bus.items()]
        lines += [
            "http:",
            "  listen: %s" % _yaml_str("127.0.0.1:%d" % (self.http_port or 0)),
            "journal:",
            "  path: %s" % _yaml_str(self.journal_path),
            "  map_size: %s" % self.map_size,
        ]
        lines += ["  %s: %s" % (k, v) for k, v in self.journal.items()]
        lines += ["security:", "  mode: %s" % self.security]
        if self.security == "curve":
            key_file = os.path.join(self.workdir, "server.key")
            with open(key_file, "w") as f:
                f.write(self.server_secret + "\n")
            lines.append("  server_secret_key_file: %s" % _yaml_str(key_file))
            lines.append("  clients:")
            for name, pub in self.clients:
                lines.append("    - { name: %s, public_key: %s }" % (_yaml_str(name), _yaml_str(pub)))
        if self.admins:
            lines.append("  admins: [%s]" % ", ".join(_yaml_str(a) for a in self.admins))
        lines.append("topics:")
        if self.defaults:
            lines.append("  defaults:")
            lines += _yaml_block(self.defaults, 4)
        if self.rules:
            lines.append("  rules:")
            for r in self.rules:
                block = _yaml_block(r, 6)
                block[0] = "    - " + block[0].lstrip()
                lines += block
        if self.adapters:
            # JSON is YAML (flow style): the dicts go in as they are.
            lines.append("adapters: %s" % json.dumps(self.adapters, ensure_ascii=False))
        if self.adapters_yaml:
            lines.append(self.adapters_yaml.rstrip("\n"))
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- process -------------------------------------------------------
    def start(self, timeout=15.0, extra_env=None):
        self.write_config()
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        env = dict(os.environ)
        env.update(extra_env or {})
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [find_lgspd(), "-c", self.config_path, "--ready-file", self.ready_path],
            stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("lgspd exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.ready_path):
                with open(self.ready_path) as f:
                    ready = json.load(f)
                self.endpoint = ready["bus"]
                self.bus_port = int(self.endpoint.rsplit(":", 1)[1])
                self.http_port = ready["http"]
                return self
            time.sleep(0.02)
        self.kill9()
        raise RuntimeError("lgspd not ready within %.0f s:\n%s" % (timeout, self.log_tail()))

    def stop(self, timeout=30.0):
        """SIGTERM and wait: returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("lgspd did not stop within %.0f s after SIGTERM" % timeout)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def reload(self):
        self.write_config()
        self.proc.send_signal(signal.SIGHUP)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def http(self, path):
        """GET path on the loopback HTTP port: (status, body text)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name, **labels):
        """The value of one Prometheus sample, or None."""
        _, text = self.http("/metrics")
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            key, _, value = line.rpartition(" ")
            lab = key[len(name):]
            if lab.startswith("{"):
                got = ",".join(sorted(lab.strip("{}").split(",")))
            elif lab == "":
                got = ""
            else:
                continue
            if got == want:
                return float(value)
        return None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.kill9()


def _yaml_block(d, indent):
    """A dict as YAML lines (values: str, int, bool, list of str, dict)."""
    out = []
    pad = " " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s:" % (pad, k))
            out += _yaml_block(v, indent + 2)
        elif isinstance(v, list):
            out.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_str(x) for x in v)))
        elif isinstance(v, bool):
            out.append("%s%s: %s" % (pad, k, "true" if v else "false"))
        else:
            out.append("%s%s: %s" % (pad, k, v if isinstance(v, int) else _yaml_str(v)))
    return out


def read_topic(endpoint, topic, expect=None, idle=3.0, timeout=120.0, name="reader"):
    """Every message of a topic, read with a fresh consumer group (nothing is
    acked in the adapters' groups): a list of pyclient Delivery. Reads until
    `expect` messages arrived, or nothing came for `idle` seconds."""
    import pyclient
    group = "read-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
    out = []
    with pyclient.Client(endpoint, name) as c:
        c.hello()
        c.subscribe(topic, group, 1000, "earliest")
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            got = c.receive(0.5)
            if got:
                out += got
                c.ack(topic, group, [d.offset for d in got])
                c.credit(topic, group, len(got))
                quiet_since = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if time.monotonic() - quiet_since > idle:
                break
        c.unsubscribe(topic, group)
    return out


def workdir(name):
    """A fresh folder for one test under $LGSP_TEST_TMP or /tmp."""
    base = os.environ.get("LGSP_TEST_TMP", "/tmp")
    d = os.path.join(base, "lgsp-it-%s-%d" % (name, os.getpid()))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d
