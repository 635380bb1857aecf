"""test_soap_xml.py — the soap-xml plugin inside the real lgspd against
lgsp-sim's dn-population (SOAP 1.1, WS-Security UsernameToken, paged,
TuThoiDiem), checked against the generator's view
(dn-population/congdan.xml).

    test_soap_xml.py CASE      full | kill9 | faults | changes | moving | malformed
    test_soap_xml.py bench [--scale 0.01] [--page-size N]     (not a test: records/s)

The cases are in ../http-json/pulltest.py (shared with http-json); this
file says how the source looks.
"""
import os
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http-json"))
import pulltest  # noqa: E402

NS_DC = "urn:lgsp-sim:dn-dancu:1"
USER, PASSWORD = "lgsp", "dn-dancu-sim-pass"

# The request, as docs/simulators.md §2 shows it, with placeholders.
TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:dc="urn:lgsp-sim:dn-dancu:1">
  <soap:Header>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <wsse:UsernameToken>
        <wsse:Username>${username}</wsse:Username>
        <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">${password}</wsse:Password>
      </wsse:UsernameToken>
    </wsse:Security>
  </soap:Header>
  <soap:Body>
    <dc:LayDanhSachCongDan>
      <dc:TuThoiDiem>${since}</dc:TuThoiDiem>
      <dc:Trang>${page}</dc:Trang>
      <dc:SoBanGhi>${page_size}</dc:SoBanGhi>
    </dc:LayDanhSachCongDan>
  </soap:Body>
</soap:Envelope>
"""

ENV = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
       '<LayDanhSachCongDanResponse xmlns="urn:lgsp-sim:dn-dancu:1"><TongSo>%d</TongSo><Trang>%d</Trang>'
       '<SoTrang>%d</SoTrang><SoBanGhi>100</SoBanGhi><DanhSachCongDan>%s</DanhSachCongDan>'
       '</LayDanhSachCongDanResponse></soap:Body></soap:Envelope>')
NO_ID = '<CongDan capNhat="2025-01-01T00:00:02+07:00"><HoTen><Ho>Không</Ho><Ten>Mã</Ten></HoTen></CongDan>'
PAGE1 = (ENV % (4, 1, 2, '<CongDan id="A1" capNhat="2025-01-01T00:00:01+07:00"><HoTen><Ho>Bùi</Ho></HoTen>'
                '</CongDan>' + NO_ID + '<CongDan id="A2" capNhat="2025-01-01T00:00:03+07:00"/>')).encode()
PAGE2 = (ENV % (4, 2, 2, '<CongDan id="B1" capNhat="2025-01-01T00:00:04+07:00"/>')).encode()
EMPTY = (ENV % (0, 1, 0, "")).encode()
NOT_XML = b"<html><body><h1>502 Bad Gateway</h1><p>upstream closed</body>"
FAULT = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
         '<faultcode>soap:Client</faultcode><faultstring>Tham số không hợp lệ: Trang</faultstring>'
         '<detail><LoiChiTiet xmlns="urn:lgsp-sim:dn-dancu:1">Trang: a positive integer</LoiChiTiet>'
         '</detail></soap:Fault></soap:Body></soap:Envelope>').encode()


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def flatten(el):
    """An element as comparable data: (path, attributes, text) of each
    element, by local names."""
    out = []

    def walk(e, path):
        p = path + "/" + _local(e.tag)
        out.append((p, tuple(sorted((_local(k), v) for k, v in e.attrib.items())), (e.text or "").strip()))
        for c in e:
            walk(c, p)
    walk(el, "")
    return out


class DnPopulation(pulltest.Kind):
    plugin = "soap-xml"
    sim = "dn-population"
    content_type = "application/xml"
    bench_page_size = 500           # the simulator's largest

    def settings(self, url):
        resp = "/soap:Envelope/soap:Body/dc:LayDanhSachCongDanResponse"
        return {"endpoint": url, "soap_action": NS_DC + "/LayDanhSachCongDan",
                "request_template": TEMPLATE, "username": USER, "password": PASSWORD,
                "namespaces": {"dc": NS_DC},
                "records": resp + "/dc:DanhSachCongDan/dc:CongDan",
                "id": "@id", "watermark": "@capNhat", "total_pages": resp + "/dc:SoTrang",
                "page_size": "200", "timeout": "10s", "retries": "4", "backoff": "200ms"}

    def view_records(self, world):
        out = []
        for _, el in ET.iterparse(os.path.join(world, "dn-population", "congdan.xml")):
            if _local(el.tag) == "CongDan":
                out.append((el.get("id"), flatten(el)))
        return out

    def same_record(self, payload, raw):
        root = ET.fromstring(payload)
        # the element alone still carries its namespace
        return root.tag == "{%s}CongDan" % NS_DC and flatten(root) == raw

    def payload_wm(self, payload):
        return ET.fromstring(payload).get("capNhat")

    # ---- the malformed case ----
    script_settings = {"namespaces": {"dc": NS_DC}}
    script_good = ["A1", "A2", "B1"]
    script_quarantine = [
        ("page 1 item 2", NO_ID.replace("<CongDan ", '<CongDan xmlns="%s" ' % NS_DC, 1).encode(),
         "record has no id"),
        ("page 2", NOT_XML, "not XML"),
        ("page 2", FAULT, "soap:Client fault: Tham số không hợp lệ: Trang (Trang: a positive integer)"),
    ]
    script_failures = 2

    def script_url(self, port):
        return "http://127.0.0.1:%d/ws/CongDan" % port

    def request_page(self, path, body):
        page, since = 1, ""
        for el in ET.fromstring(body).iter():
            if _local(el.tag) == "Trang":
                page = int(el.text)
            elif _local(el.tag) == "TuThoiDiem":
                since = el.text or ""
        return page, since

    def serve(self, page, since, n):
        ct = "text/xml; charset=utf-8"
        if since:
            return 200, ct, EMPTY
        if page == 1:
            return 200, ct, PAGE1
        if n <= 2:
            return 200, "text/html", NOT_XML     # (a broken proxy in between)
        if n <= 4:
            return 500, ct, FAULT
        return 200, ct, PAGE2


if __name__ == "__main__":
    pulltest.run(DnPopulation(), sys.argv[1])
