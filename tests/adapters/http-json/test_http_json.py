"""test_http_json.py — the http-json plugin inside the real lgspd against
lgsp-sim's qn-population (REST/JSON, paged, `since`), checked against the
generator's view (qn-population/persons.jsonl).

    test_http_json.py CASE      full | kill9 | faults | changes | moving | malformed
    test_http_json.py bench [--scale 0.01] [--page-size N]     (not a test: records/s)

The cases are in pulltest.py (shared with soap-xml); this file says how the
source looks.
"""
import json
import os
import sys
import urllib.parse

import pulltest

QN_KEY = "qn-dancu-sim-key"

# The malformed case's server: page 1 has two good records, one without an
# id and one that is not an object; page 2 answers a cut-off body (not JSON)
# twice before answering properly.
BAD_BODY = b'{"page":2,"total_pages":2,"data":[{"id":"B1","updated_at":"2025-01-'
PAGE1 = (b'{"page":1,"total_pages":2,"data":['
         b'{"id":"A1","ho_ten":"NGUY\xe1\xbb\x84N A","updated_at":"2025-01-01T00:00:01+07:00"},'
         b'{"ho_ten":"KH\xc3\x94NG ID","updated_at":"2025-01-01T00:00:02+07:00"},'
         b'[1,2,3],'
         b'{"id":"A2","updated_at":"2025-01-01T00:00:03+07:00"}]}')
PAGE2 = b'{"page":2,"total_pages":2,"data":[{"id":"B1","updated_at":"2025-01-01T00:00:04+07:00"}]}'
EMPTY = b'{"page":1,"total_pages":0,"data":[]}'


class QnPopulation(pulltest.Kind):
    plugin = "http-json"
    sim = "qn-population"
    content_type = "application/json"
    retry_after = True
    bench_page_size = 1000          # the simulator's largest

    def settings(self, url):
        return {"url": url, "page_size": "200", "records": "data", "total_pages": "total_pages",
                "id_field": "id", "watermark_field": "updated_at",
                "auth": {"header": "X-API-Key", "value": QN_KEY},
                "timeout": "10s", "retries": "4", "backoff": "200ms"}

    def view_records(self, world):
        out = []
        with open(os.path.join(world, "qn-population", "persons.jsonl"), "rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                if line:
                    out.append((json.loads(line)["id"], line))
        return out

    def same_record(self, payload, raw):
        # jansson's compact dump of the record is the generator's line, byte for byte.
        return payload == raw

    def payload_wm(self, payload):
        return json.loads(payload)["updated_at"]

    # ---- the malformed case ----
    script_settings = {"auth": {"header": "X-API-Key", "value": "any"}}
    script_good = ["A1", "A2", "B1"]
    script_quarantine = [
        ("page 1 item 2", b'{"ho_ten":"KH\xc3\x94NG ID","updated_at":"2025-01-01T00:00:02+07:00"}',
         "record has no id"),
        ("page 1 item 3", b"[1,2,3]", "record is not a JSON object"),
        ("page 2", BAD_BODY, "not JSON"),
    ]
    script_failures = 1

    def script_url(self, port):
        return "http://127.0.0.1:%d/api/v1/people?format=json" % port

    def request_page(self, path, body):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        return int(q.get("page", ["1"])[0]), q.get("since", [""])[0]

    def serve(self, page, since, n):
        ct = "application/json"
        if since:
            return 200, ct, EMPTY
        if page == 1:
            return 200, ct, PAGE1
        if page == 2 and n <= 2:
            return 200, ct, BAD_BODY
        return 200, ct, PAGE2


if __name__ == "__main__":
    pulltest.run(QnPopulation(), sys.argv[1])
