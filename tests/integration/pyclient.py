"""pyclient.py — a Python client for the lgsp wire protocol v1 (docs/protocol.md).

    c = Client("tcp://127.0.0.1:7600", "tester")
    c.hello()
    results, errors = c.publish("demo", [("id-1", "", {"a": "b"}, b"payload")])
    c.subscribe("demo", "workers", credit=100)
    for d in c.receive(1.0):
        c.ack(d.topic, d.group, [d.offset])
    c.close()

Written from docs/protocol.md alone. One Client owns one ZeroMQ DEALER socket and
is not thread-safe. Every blocking call services the socket while it waits:
answers are matched, deliveries are buffered for receive(), heartbeats are sent
when idle, and a silent broker (5 x heartbeat_ms) or an ERROR 401 makes the
client say HELLO again, re-subscribe and re-send unanswered publishes with the
same message ids.

Message ids are handled as str (they are printable ASCII); keys and payloads as bytes.
"""

import collections
import json
import time

import zmq

SIGNATURE = b"LGSP1"
MAX_PER_PUB = 1000

Delivery = collections.namedtuple(
    "Delivery", "topic group offset attempt time_us id key headers payload")
Delivery.__doc__ = """One delivered message (headers: dict, or None when empty)."""


class LgspError(Exception):
    """An ERROR (or ADMIN error) from the broker."""

    def __init__(self, code, text, context=()):
        super().__init__("%s %s %s" % (code, text, list(context)))
        self.code, self.text, self.context = code, text, list(context)


def _b(v):
    return v if isinstance(v, bytes) else str(v).encode()


def _s(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class _Batch:
    """One PUB sent: its topic, its messages and how many answers each id still awaits."""

    def __init__(self, topic, msgs):
        self.topic, self.msgs = topic, msgs          # msgs: [(id str, key, headers, payload bytes)]
        self.remaining = collections.Counter(m[0] for m in msgs)

    def unanswered(self):
        """The messages still awaiting an answer, in publish order."""
        left, out = collections.Counter(self.remaining), []
        for m in self.msgs:
            if left[m[0]] > 0:
                left[m[0]] -= 1
                out.append(m)
        return out


class Client:
    """A session with one lgspd broker over a DEALER socket (plain, or Curve when server_key is set)."""

    def __init__(self, endpoint, name, server_key=None, public_key=None, secret_key=None,
                 timeout=10.0, software="pyclient/1", retry_codes=()):
        self.endpoint, self.name, self.software, self.timeout = endpoint, name, software, timeout
        self.curve = (server_key, public_key, secret_key) if server_key else None
        self.retry_codes = set(retry_codes)   # PUBERR codes re-sent automatically (e.g. 429, 503)
        self.ctx = zmq.Context.instance()
        self.sock = None
        self.state = None                     # None, "hello" (awaiting WELCOME) or "ready"
        self.welcome = None                   # (version, heartbeat_ms, pub_window, max_message_bytes)
        self.heartbeat_ms, self.pub_window = 1000, 1
        self.subs = {}                        # (topic, group) -> [credit, start, subok seen]
        self.queue = collections.deque()      # (topic, message) not sent yet
        self.queued = collections.Counter()   # ids in self.queue
        self.inflight = []                    # _Batch sent and not fully answered
        self.inflight_msgs = 0                # messages sent and not answered (what pub_window limits)
        self.pending = {}                     # id -> deque of sent batches awaiting an answer for it
        self.acked, self.failed = {}, {}      # every answer so far: id -> (status, offset) / (code, text)
        self._fresh = ({}, {})                # answers since the last poll()
        self.deliveries = collections.deque()
        self.errors = collections.deque()     # unsolicited ERRORs: (code, text, [context])
        self.admin_wait = {}                  # request_id -> frames sent (re-sent after a re-HELLO)
        self.admin_done = {}                  # request_id -> ("ok", json text) or ("err", code, text)
        self.unsubbed = set()
        self.reconnects = 0
        self._req = 0
        self._retry_at = 0.0
        self._open()

    # -- socket ---------------------------------------------------------
    def _open(self):
        if self.sock is not None:
            self.sock.close(linger=0)
        s = self.ctx.socket(zmq.DEALER)
        s.linger = 0
        if self.curve:
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = (_b(k) for k in self.curve)
        s.connect(self.endpoint)
        self.sock = s
        self.state = None
        self.last_send = self.last_recv = time.monotonic()

    def _send(self, *frames):
        self.sock.send_multipart([SIGNATURE] + [_b(f) for f in frames])
        self.last_send = time.monotonic()

    def send_raw(self, frames):
        """Send exactly these frames (frame 0 included): for testing the broker's input checks."""
        self.sock.send_multipart([_b(f) for f in frames])
        self.last_send = time.monotonic()

    # -- session --------------------------------------------------------
    def _say_hello(self, resume):
        self._send("HELLO", self.name, self.software)
        self.state, self._resume, self._hello_at = "hello", resume, time.monotonic()

    def hello(self):
        """Start a fresh session: HELLO, wait for WELCOME, return (version, heartbeat_ms, pub_window,
        max_message_bytes). Like the broker, this drops the client's subscriptions."""
        self.subs.clear()
        self._say_hello(resume=False)
        self._wait(lambda: self.state == "ready", "WELCOME")
        return self.welcome

    def reconnect(self):
        """New socket, HELLO, re-SUB every subscription, re-send unanswered publishes (same ids)."""
        self._open()
        self._say_hello(resume=True)
        self.reconnects += 1
        self._wait(lambda: self.state == "ready", "WELCOME after reconnect")
        return self.welcome

    def _on_welcome(self, f):
        self.welcome = (_s(f[0]), int(f[1]), int(f[2]), int(f[3]))
        self.heartbeat_ms, self.pub_window = self.welcome[1], self.welcome[2]
        self.state = "ready"
        if self._resume:                      # a new broker session: nothing is in flight there
            again = [(b.topic, m) for b in self.inflight for m in b.unanswered()]
            self.queue.extendleft(reversed(again))
            self.queued.update(m[0] for _, m in again)
            self.inflight, self.inflight_msgs, self.pending = [], 0, {}
            for (topic, group), sub in self.subs.items():
                sub[2] = False
                self._send("SUB", topic, group, sub[0], *([sub[1]] if sub[1] else []))
            for frames in self.admin_wait.values():
                self._send(*frames)

    def close(self):
        """BYE (when a session is open) and close the socket."""
        if self.sock is None:
            return
        if self.state == "ready":
            self._send("BYE")
            self.sock.close(linger=1000)
        else:
            self.sock.close(linger=0)
        self.sock, self.state = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- event loop -----------------------------------------------------
    def _service(self, timeout):
        """Wait up to timeout s for input, handle all of it, then heartbeats, liveness and sending."""
        hb = self.heartbeat_ms / 1000.0
        if self.sock.poll(int(max(0.0, min(timeout, hb / 2)) * 1000)):
            while True:
                try:
                    msg = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.last_recv = time.monotonic()
                self._dispatch(msg)
        now = time.monotonic()
        if self.state == "ready":
            if now - self.last_recv > 5 * hb:                 # broker silent: start again
                self._open()
                self._say_hello(resume=True)
                self.reconnects += 1
            elif now - self.last_send >= hb:
                self._send("HEARTBEAT")
        elif self.state == "hello" and self._resume and now - self._hello_at > 5 * hb:
            self._open()                                      # no WELCOME: broker down? retry
            self._say_hello(resume=True)
        self._pump()

    def _wait(self, done, what, timeout=None):
        """Service the socket until done() is true; TimeoutError after timeout (default self.timeout)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("lgsp: no %s within %.1f s" % (what, self.timeout if timeout is None else timeout))
            self._service(left)

    def _dispatch(self, msg):
        if len(msg) < 2 or msg[0] != SIGNATURE:
            return                                            # not version 1: ignore
        cmd, f = msg[1], msg[2:]
        try:
            handler = {b"WELCOME": self._on_welcome, b"PUBOK": self._on_pubok, b"PUBERR": self._on_puberr,
                       b"MSG": self._on_msg, b"SUBOK": self._on_subok, b"UNSUBOK": self._on_unsubok,
                       b"ADMINOK": self._on_adminok, b"ERROR": self._on_error}.get(cmd)
            if handler:                                       # HEARTBEAT and unknown commands: ignored (§8)
                handler(f)
        except (IndexError, ValueError) as e:
            self.errors.append((0, "client: bad %s from broker: %s" % (_s(cmd), e), f))

    def _on_error(self, f):
        code, text, ctx = int(f[0]), _s(f[1]), [_s(c) for c in f[2:]]
        if code == 401 and self.state == "ready":             # session lost (broker restart)
            self._say_hello(resume=True)
            self.reconnects += 1
            return
        if code == 401 and self.state == "hello":             # answers commands sent before our HELLO
            return
        for c in ctx:
            if c in self.admin_wait:
                del self.admin_wait[c]
                self.admin_done[c] = ("err", code, text)
                return
        self.errors.append((code, text, ctx))

    # -- publishing -----------------------------------------------------
    def publish_async(self, topic, messages):
        """Queue (id, key, headers dict|None|bytes, payload) messages; they are sent as the window
        allows while the client is serviced (poll() or any other call). Returns the ids queued."""
        ids = []
        for mid, key, headers, payload in messages:
            mid = _s(mid)
            if isinstance(headers, dict):
                headers = json.dumps(headers, separators=(",", ":"))
            self.queue.append((topic, (mid, _b(key or b""), _b(headers or b""), _b(payload))))
            self.queued[mid] += 1
            ids.append(mid)
        self._pump()
        return ids

    def _pump(self):
        """Send queued messages as PUBs of up to 1000 (one topic each), keeping at most pub_window
        messages unanswered (the broker counts messages, not PUB commands)."""
        while self.state == "ready" and self.queue and time.monotonic() >= self._retry_at:
            room = min(MAX_PER_PUB, self.pub_window - self.inflight_msgs)
            if room <= 0:
                break
            topic, msgs = self.queue[0][0], []
            while self.queue and len(msgs) < room and self.queue[0][0] == topic:
                m = self.queue.popleft()[1]
                self.queued[m[0]] -= 1
                if not self.queued[m[0]]:
                    del self.queued[m[0]]
                msgs.append(m)
            b = _Batch(topic, msgs)
            frames = ["PUB", topic]
            for m in msgs:
                frames += m
                self.pending.setdefault(m[0], collections.deque()).append(b)
            self._send(*frames)
            self.inflight.append(b)
            self.inflight_msgs += len(msgs)

    def _answered(self, mid):
        """The sent batch an answer for mid belongs to (the oldest), marked answered; None if
        mid is not awaiting an answer (a late answer from before a re-HELLO)."""
        q = self.pending.get(mid)
        if not q:
            return None
        b = q.popleft()
        if not q:
            del self.pending[mid]
        b.remaining[mid] -= 1
        self.inflight_msgs -= 1
        if not +b.remaining:
            self.inflight.remove(b)
        return b

    def _on_pubok(self, f):
        for i in range(1, len(f) - 2, 3):
            mid, off, status = _s(f[i]), int(f[i + 1]), _s(f[i + 2])
            if self._answered(mid):
                self.acked[mid] = self._fresh[0][mid] = (status, off)
                self.failed.pop(mid, None)

    def _on_puberr(self, f):
        topic, code, text = _s(f[0]), int(f[1]), _s(f[2])
        retry = []
        for raw in f[3:]:
            mid = _s(raw)
            b = self._answered(mid)
            if b is None:
                continue
            if code in self.retry_codes:
                retry += [m for m in b.msgs if m[0] == mid][:1]
            else:
                self.failed[mid] = self._fresh[1][mid] = (code, text)
        if retry:                                             # back in the queue, sent after a pause
            self.queue.extend((topic, m) for m in retry)
            self.queued.update(m[0] for m in retry)
            self._retry_at = time.monotonic() + 0.2

    def unanswered(self):
        """Ids published and not answered yet."""
        return set(self.pending) | set(self.queued)

    def poll(self, timeout=0.0):
        """Service the socket for up to timeout s (returns early once something was answered);
        returns ({id: (status, offset)}, {id: (code, text)}) answered since the previous poll()."""
        deadline = time.monotonic() + timeout
        while True:
            self._service(max(0.0, deadline - time.monotonic()))
            if self._fresh[0] or self._fresh[1] or time.monotonic() >= deadline:
                break
        fresh, self._fresh = self._fresh, ({}, {})
        return fresh

    def publish(self, topic, messages, timeout=None):
        """Publish and wait for every answer: ({id: ("new"|"dup", offset)}, {id: (code, text)})."""
        ids = self.publish_async(topic, messages)
        self._wait(lambda: not any(i in self.pending or i in self.queued for i in ids), "answer to PUB", timeout)
        res = {i: self.acked[i] for i in ids if i in self.acked}
        err = {i: self.failed[i] for i in ids if i in self.failed and i not in res}
        return res, err

    # -- consuming ------------------------------------------------------
    def subscribe(self, topic, group, credit, start=None):
        """SUB and wait for SUBOK; raises LgspError on an ERROR about this topic (or one without
        context, which is how the broker answers a bad SUB). The subscription is remembered and
        re-sent with the same credit after a re-HELLO."""
        self.subs[(topic, group)] = sub = [int(credit), start, False]
        self._send("SUB", topic, group, int(credit), *([start] if start else []))

        def answered():
            for e in list(self.errors):
                if not e[2] or e[2][0] == topic:
                    self.errors.remove(e)
                    del self.subs[(topic, group)]
                    raise LgspError(*e)
            return sub[2]
        self._wait(answered, "SUBOK")

    def _on_subok(self, f):
        sub = self.subs.get((_s(f[0]), _s(f[1])))
        if sub:
            sub[2] = True

    def unsubscribe(self, topic, group):
        """UNSUB and wait for UNSUBOK."""
        self.subs.pop((topic, group), None)
        self.unsubbed.discard((topic, group))
        self._send("UNSUB", topic, group)
        self._wait(lambda: (topic, group) in self.unsubbed, "UNSUBOK")

    def _on_unsubok(self, f):
        self.unsubbed.add((_s(f[0]), _s(f[1])))

    def _on_msg(self, f):
        topic, group = _s(f[0]), _s(f[1])
        for i in range(2, len(f) - 6, 7):
            off, att, tm, mid, key, hdr, payload = f[i:i + 7]
            headers = None
            if hdr:
                try:
                    headers = json.loads(hdr)
                except ValueError:
                    headers = _s(hdr)
            self.deliveries.append(Delivery(topic, group, int(off), int(att), int(tm), _s(mid),
                                            key, headers, payload))

    def receive(self, timeout=1.0):
        """Deliveries buffered or arriving within timeout s (returns as soon as there are some)."""
        deadline = time.monotonic() + timeout
        while not self.deliveries and time.monotonic() < deadline:
            self._service(deadline - time.monotonic())
        out = list(self.deliveries)
        self.deliveries.clear()
        return out

    def ack(self, topic, group, offsets):
        """ACK delivered offsets (no answer; an unknown subscription comes back as ERROR 404)."""
        if offsets:
            self._send("ACK", topic, group, *[int(o) for o in offsets])

    def nack(self, topic, group, reason, offsets):
        """NACK offsets: redelivered at once; reason (<= 1 KiB) goes to the dead-letter entry."""
        if offsets:
            self._send("NACK", topic, group, reason, *[int(o) for o in offsets])

    def credit(self, topic, group, n):
        """Grant n more deliveries on a subscription (no answer)."""
        self._send("CREDIT", topic, group, int(n))

    def next_error(self, timeout=None):
        """The next unsolicited ERROR as (code, text, [context]), waiting up to timeout s."""
        self._wait(lambda: self.errors, "ERROR", timeout)
        return self.errors.popleft()

    # -- operator requests ----------------------------------------------
    def admin(self, verb, *args, timeout=None):
        """ADMIN request: the parsed JSON answer, or LgspError(code, text)."""
        self._req += 1
        rid = "r%d" % self._req
        frames = ["ADMIN", rid, verb] + [str(a) for a in args]
        self.admin_wait[rid] = frames
        self._send(*frames)
        try:
            self._wait(lambda: rid in self.admin_done, "ADMINOK", timeout)
        finally:
            self.admin_wait.pop(rid, None)
        ans = self.admin_done.pop(rid)
        if ans[0] == "err":
            raise LgspError(ans[1], ans[2], [rid])
        return json.loads(ans[1])

    def _on_adminok(self, f):
        rid = _s(f[0])
        if self.admin_wait.pop(rid, None) is not None:
            self.admin_done[rid] = ("ok", f[1])
