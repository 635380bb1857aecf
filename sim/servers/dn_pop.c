/* dn_pop.c — the Đà Nẵng population register (Cơ sở dữ liệu dân cư thành
 * phố Đà Nẵng) as a SOAP 1.1 service, document/literal:
 *
 *   GET  /ws/CongDan?wsdl               the WSDL
 *   POST /ws/CongDan  LayDanhSachCongDan(TuThoiDiem?, Trang?, SoBanGhi?)
 *                     LayCongDan(MaCongDan)
 *
 * with an optional WS-Security UsernameToken (PasswordText). Requests are
 * parsed with libxml2; every bad request gets a SOAP Fault (HTTP 500,
 * faultcode soap:Client / soap:Server / soap:VersionMismatch). The records
 * are the <CongDan> lines of the generator's dn-population/congdan.xml,
 * copied into the response as they are (họ / chữ đệm / tên, ISO dates,
 * 2025 codes after the merger). Changes: births, moves, personal IDs. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "httpd.h"
#include "recstore.h"
#include "sim.h"
#include "simutil.h"

#define PATH_WS   "/ws/CongDan"
#define NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_SOAP12 "http://www.w3.org/2003/05/soap-envelope"
#define NS_TNS    "urn:lgsp-sim:dn-dancu:1"
#define NS_WSSE   "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define CT_XML    "text/xml; charset=utf-8"

typedef struct {
    sim_env_t   env;
    recstore_t *store;
    httpd_t    *http;
    rng_t       rng;
    int64_t     clock;
    uint64_t    served, requests, faults;
    uint64_t    changes[3];
} dn_pop_t;

/* The WSDL; %PORT% is replaced by the port. */
static const char s_wsdl[] =
"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
"<!-- Dịch vụ tra cứu Cơ sở dữ liệu dân cư thành phố Đà Nẵng (simulated) -->\n"
"<wsdl:definitions name=\"DichVuCongDan\" targetNamespace=\"" NS_TNS "\"\n"
"    xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\"\n"
"    xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\"\n"
"    xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"\n"
"    xmlns:tns=\"" NS_TNS "\">\n"
"  <wsdl:types>\n"
"    <xs:schema targetNamespace=\"" NS_TNS "\" elementFormDefault=\"qualified\">\n"
"      <xs:complexType name=\"HoTen\">\n"
"        <xs:sequence>\n"
"          <xs:element name=\"Ho\" type=\"xs:string\"/>\n"
"          <xs:element name=\"ChuDem\" type=\"xs:string\"/>\n"
"          <xs:element name=\"Ten\" type=\"xs:string\"/>\n"
"        </xs:sequence>\n"
"      </xs:complexType>\n"
"      <xs:complexType name=\"DiaChi\">\n"
"        <xs:sequence>\n"
"          <xs:element name=\"MaTinh\" type=\"xs:string\"/>\n"
"          <xs:element name=\"MaQuanHuyen\" type=\"xs:string\"/>\n"
"          <xs:element name=\"MaPhuongXa\" type=\"xs:string\"/>\n"
"          <xs:element name=\"TenPhuongXa\" type=\"xs:string\"/>\n"
"          <xs:element name=\"ChiTiet\" type=\"xs:string\"/>\n"
"        </xs:sequence>\n"
"      </xs:complexType>\n"
"      <xs:complexType name=\"CongDan\">\n"
"        <xs:sequence>\n"
"          <xs:element name=\"SoDinhDanh\" type=\"xs:string\"/>\n"
"          <xs:element name=\"SoCMND\" type=\"xs:string\"/>\n"
"          <xs:element name=\"HoTen\" type=\"tns:HoTen\"/>\n"
"          <xs:element name=\"GioiTinh\" type=\"xs:string\"/>\n"
"          <xs:element name=\"NgaySinh\" type=\"xs:date\"/>\n"
"          <xs:element name=\"ThuongTru\" type=\"tns:DiaChi\"/>\n"
"          <xs:element name=\"MaHo\" type=\"xs:string\"/>\n"
"          <xs:element name=\"QuanHeChuHo\" type=\"xs:string\"/>\n"
"          <xs:element name=\"HoTenCha\" type=\"xs:string\"/>\n"
"          <xs:element name=\"HoTenMe\" type=\"xs:string\"/>\n"
"          <xs:element name=\"HoTenVoChong\" type=\"xs:string\"/>\n"
"        </xs:sequence>\n"
"        <xs:attribute name=\"id\" type=\"xs:string\" use=\"required\"/>\n"
"        <xs:attribute name=\"capNhat\" type=\"xs:dateTime\" use=\"required\"/>\n"
"      </xs:complexType>\n"
"      <xs:complexType name=\"DanhSachCongDan\">\n"
"        <xs:sequence>\n"
"          <xs:element name=\"CongDan\" type=\"tns:CongDan\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>\n"
"        </xs:sequence>\n"
"      </xs:complexType>\n"
"      <xs:element name=\"LayDanhSachCongDan\">\n"
"        <xs:complexType>\n"
"          <xs:sequence>\n"
"            <xs:element name=\"TuThoiDiem\" type=\"xs:dateTime\" minOccurs=\"0\"/>\n"
"            <xs:element name=\"Trang\" type=\"xs:int\" minOccurs=\"0\"/>\n"
"            <xs:element name=\"SoBanGhi\" type=\"xs:int\" minOccurs=\"0\"/>\n"
"          </xs:sequence>\n"
"        </xs:complexType>\n"
"      </xs:element>\n"
"      <xs:element name=\"LayDanhSachCongDanResponse\">\n"
"        <xs:complexType>\n"
"          <xs:sequence>\n"
"            <xs:element name=\"TongSo\" type=\"xs:int\"/>\n"
"            <xs:element name=\"Trang\" type=\"xs:int\"/>\n"
"            <xs:element name=\"SoTrang\" type=\"xs:int\"/>\n"
"            <xs:element name=\"SoBanGhi\" type=\"xs:int\"/>\n"
"            <xs:element name=\"DanhSachCongDan\" type=\"tns:DanhSachCongDan\"/>\n"
"          </xs:sequence>\n"
"        </xs:complexType>\n"
"      </xs:element>\n"
"      <xs:element name=\"LayCongDan\">\n"
"        <xs:complexType>\n"
"          <xs:sequence>\n"
"            <xs:element name=\"MaCongDan\" type=\"xs:string\"/>\n"
"          </xs:sequence>\n"
"        </xs:complexType>\n"
"      </xs:element>\n"
"      <xs:element name=\"LayCongDanResponse\">\n"
"        <xs:complexType>\n"
"          <xs:sequence>\n"
"            <xs:element name=\"CongDan\" type=\"tns:CongDan\"/>\n"
"          </xs:sequence>\n"
"        </xs:complexType>\n"
"      </xs:element>\n"
"    </xs:schema>\n"
"  </wsdl:types>\n"
"  <wsdl:message name=\"LayDanhSachCongDanRequest\"><wsdl:part name=\"parameters\" element=\"tns:LayDanhSachCongDan\"/></wsdl:message>\n"
"  <wsdl:message name=\"LayDanhSachCongDanResponse\"><wsdl:part name=\"parameters\" element=\"tns:LayDanhSachCongDanResponse\"/></wsdl:message>\n"
"  <wsdl:message name=\"LayCongDanRequest\"><wsdl:part name=\"parameters\" element=\"tns:LayCongDan\"/></wsdl:message>\n"
"  <wsdl:message name=\"LayCongDanResponse\"><wsdl:part name=\"parameters\" element=\"tns:LayCongDanResponse\"/></wsdl:message>\n"
"  <wsdl:portType name=\"CongDanPortType\">\n"
"    <wsdl:operation name=\"LayDanhSachCongDan\">\n"
"      <wsdl:documentation>Danh sách công dân cập nhật sau TuThoiDiem (mọi công dân khi bỏ trống), theo thứ tự capNhat, trang Trang (từ 1), SoBanGhi bản ghi mỗi trang.</wsdl:documentation>\n"
"      <wsdl:input message=\"tns:LayDanhSachCongDanRequest\"/>\n"
"      <wsdl:output message=\"tns:LayDanhSachCongDanResponse\"/>\n"
"    </wsdl:operation>\n"
"    <wsdl:operation name=\"LayCongDan\">\n"
"      <wsdl:documentation>Một công dân theo mã bản ghi (CD00001234).</wsdl:documentation>\n"
"      <wsdl:input message=\"tns:LayCongDanRequest\"/>\n"
"      <wsdl:output message=\"tns:LayCongDanResponse\"/>\n"
"    </wsdl:operation>\n"
"  </wsdl:portType>\n"
"  <wsdl:binding name=\"CongDanBinding\" type=\"tns:CongDanPortType\">\n"
"    <soap:binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n"
"    <wsdl:operation name=\"LayDanhSachCongDan\">\n"
"      <soap:operation soapAction=\"" NS_TNS "/LayDanhSachCongDan\"/>\n"
"      <wsdl:input><soap:body use=\"literal\"/></wsdl:input>\n"
"      <wsdl:output><soap:body use=\"literal\"/></wsdl:output>\n"
"    </wsdl:operation>\n"
"    <wsdl:operation name=\"LayCongDan\">\n"
"      <soap:operation soapAction=\"" NS_TNS "/LayCongDan\"/>\n"
"      <wsdl:input><soap:body use=\"literal\"/></wsdl:input>\n"
"      <wsdl:output><soap:body use=\"literal\"/></wsdl:output>\n"
"    </wsdl:operation>\n"
"  </wsdl:binding>\n"
"  <wsdl:service name=\"DichVuCongDan\">\n"
"    <wsdl:port name=\"CongDanPort\" binding=\"tns:CongDanBinding\">\n"
"      <soap:address location=\"http://127.0.0.1:%PORT%" PATH_WS "\"/>\n"
"    </wsdl:port>\n"
"  </wsdl:service>\n"
"</wsdl:definitions>\n";

static int s_parse(const char *line, size_t len, uint32_t *key, int64_t *ts)
{
    static const char pre[] = "<CongDan id=\"CD";
    if (len < sizeof pre || memcmp(line, pre, sizeof pre - 1) != 0)
        return (len && line[0] == '<' && memcmp(line, "<CongDan", 8) == 0) ? -1 : 0;
    uint32_t k = 0;
    size_t i = sizeof pre - 1;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++)
        k = k * 10 + (uint32_t)(line[i] - '0');
    static const char cn[] = "\" capNhat=\"";
    if (i + sizeof cn - 1 > len || memcmp(line + i, cn, sizeof cn - 1) != 0)
        return -1;
    const char *v = line + i + sizeof cn - 1;
    const char *q = memchr(v, '"', len - (size_t)(v - line));
    if (!q || simts_parse(v, (size_t)(q - v), ts))
        return -1;
    *key = k;
    return 1;
}

/* ---- SOAP plumbing ----------------------------------------------------- */

static const char s_env_open[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<soap:Envelope xmlns:soap=\"" NS_SOAP11 "\"><soap:Body>";
static const char s_env_close[] = "</soap:Body></soap:Envelope>\n";

static enum MHD_Result s_fault(dn_pop_t *self, http_req_t *req, int status, const char *code,
                               const char *msg, const char *detail)
{
    __atomic_add_fetch(&self->faults, 1, __ATOMIC_RELAXED);
    sbuf_t b;
    sbuf_init(&b);
    sbuf_puts(&b, s_env_open);
    sbuf_puts(&b, "<soap:Fault><faultcode>soap:");
    sbuf_puts(&b, code);
    sbuf_puts(&b, "</faultcode><faultstring xml:lang=\"vi\">");
    sbuf_xml(&b, msg);
    sbuf_puts(&b, "</faultstring>");
    if (detail) {
        sbuf_puts(&b, "<detail><LoiChiTiet xmlns=\"" NS_TNS "\">");
        sbuf_xml(&b, detail);
        sbuf_puts(&b, "</LoiChiTiet></detail>");
    }
    sbuf_puts(&b, "</soap:Fault>");
    sbuf_puts(&b, s_env_close);
    return http_reply(req, status, CT_XML, b.p, b.len, NULL);
}

static bool s_is(const xmlNode *n, const char *ns, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local)
        && ((!ns && !n->ns) || (ns && n->ns && n->ns->href && !strcmp((const char *)n->ns->href, ns)));
}

static xmlNode *s_first_el(xmlNode *n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

/* A parameter: a child in the service namespace (or, leniently, in none). */
static xmlNode *s_param(xmlNode *op, const char *local)
{
    for (xmlNode *c = op->children; c; c = c->next)
        if (s_is(c, NS_TNS, local) || s_is(c, NULL, local))
            return c;
    return NULL;
}

/* Text content, trimmed; caller frees with xmlFree. */
static char *s_text(xmlNode *n)
{
    char *t = (char *)xmlNodeGetContent(n);
    if (!t)
        return NULL;
    char *s = t;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        l--;
    memmove(t, s, l);
    t[l] = 0;
    return t;
}

/* WS-Security UsernameToken with PasswordText. NULL = accepted, or why not. */
static const char *s_auth(dn_pop_t *self, xmlNode *header)
{
    const char *user = self->env.opts->username, *pass = self->env.opts->password;
    if (!user || !*user)
        return NULL;
    xmlNode *sec = NULL, *tok = NULL, *u = NULL, *p = NULL;
    for (xmlNode *c = header ? header->children : NULL; c; c = c->next)
        if (s_is(c, NS_WSSE, "Security"))
            sec = c;
    for (xmlNode *c = sec ? sec->children : NULL; c; c = c->next)
        if (s_is(c, NS_WSSE, "UsernameToken"))
            tok = c;
    for (xmlNode *c = tok ? tok->children : NULL; c; c = c->next) {
        if (s_is(c, NS_WSSE, "Username"))
            u = c;
        if (s_is(c, NS_WSSE, "Password"))
            p = c;
    }
    if (!u || !p)
        return "thiếu wsse:Security/UsernameToken (missing WS-Security UsernameToken)";
    xmlChar *type = xmlGetProp(p, (const xmlChar *)"Type");
    bool text_type = !type || strstr((const char *)type, "#PasswordText") != NULL;
    xmlFree(type);
    if (!text_type)
        return "chỉ hỗ trợ PasswordText (only PasswordText is supported)";
    char *us = s_text(u), *ps = s_text(p);
    bool ok = us && ps && !strcmp(us, user) && !strcmp(ps, pass ? pass : "");
    xmlFree(us);
    xmlFree(ps);
    return ok ? NULL : "sai tên đăng nhập hoặc mật khẩu (wrong username or password)";
}

static enum MHD_Result s_list(dn_pop_t *self, http_req_t *req, xmlNode *op)
{
    long page = 1, size = 100;
    int64_t since = INT64_MIN;
    xmlNode *n;
    char *t;
    char detail[160];
    if ((n = s_param(op, "TuThoiDiem"))) {
        t = s_text(n);
        int bad = t && *t && simts_parse(t, strlen(t), &since);
        xmlFree(t);
        if (bad)
            return s_fault(self, req, 500, "Client", "Tham số không hợp lệ: TuThoiDiem",
                           "TuThoiDiem: xs:dateTime, e.g. 2025-07-01T00:00:00+07:00");
    }
    if ((n = s_param(op, "Trang"))) {
        t = s_text(n);
        int bad = sim_parse_long(t, 1, 100000000L, &page);
        xmlFree(t);
        if (bad)
            return s_fault(self, req, 500, "Client", "Tham số không hợp lệ: Trang",
                           "Trang: an integer >= 1");
    }
    if ((n = s_param(op, "SoBanGhi"))) {
        t = s_text(n);
        int bad = sim_parse_long(t, 1, self->env.opts->max_page_size, &size);
        xmlFree(t);
        if (bad) {
            snprintf(detail, sizeof detail, "SoBanGhi: an integer in [1, %ld]",
                     self->env.opts->max_page_size);
            return s_fault(self, req, 500, "Client", "Tham số không hợp lệ: SoBanGhi", detail);
        }
    }
    sbuf_t b;
    sbuf_init(&b);
    sbuf_reserve(&b, 512 + (size_t)size * 700);
    sbuf_puts(&b, s_env_open);
    recstore_rdlock(self->store);
    size_t first = since == INT64_MIN ? 0 : recstore_first_after(self->store, since);
    size_t count = recstore_count(self->store), total = count - first;
    size_t pages = (total + (size_t)size - 1) / (size_t)size;
    size_t from = first + (size_t)(page - 1) * (size_t)size, k = 0;
    sbuf_printf(&b, "<LayDanhSachCongDanResponse xmlns=\"" NS_TNS "\"><TongSo>%zu</TongSo>"
                    "<Trang>%ld</Trang><SoTrang>%zu</SoTrang><SoBanGhi>%ld</SoBanGhi>"
                    "<DanhSachCongDan>\n", total, page, pages, size);
    for (size_t i = from; i < count && k < (size_t)size; i++, k++) {
        const rec_t *r = recstore_at(self->store, i);
        sbuf_put(&b, r->p, r->len);
        sbuf_putc(&b, '\n');
    }
    recstore_unlock(self->store);
    sbuf_puts(&b, "</DanhSachCongDan></LayDanhSachCongDanResponse>");
    sbuf_puts(&b, s_env_close);
    __atomic_add_fetch(&self->served, k, __ATOMIC_RELAXED);
    return http_reply(req, 200, CT_XML, b.p, b.len, NULL);
}

static enum MHD_Result s_one(dn_pop_t *self, http_req_t *req, xmlNode *op)
{
    xmlNode *n = s_param(op, "MaCongDan");
    char *t = n ? s_text(n) : NULL;
    long k = -1;
    if (!t || strncmp(t, "CD", 2) != 0 || strlen(t) != 10 || sim_parse_long(t + 2, 0, 99999999, &k))
        k = -1;
    xmlFree(t);
    if (!n)
        return s_fault(self, req, 500, "Client", "Thiếu tham số MaCongDan", "MaCongDan is required");
    sbuf_t b;
    sbuf_init(&b);
    bool found = false;
    recstore_rdlock(self->store);
    const rec_t *r = k >= 0 ? recstore_by_key(self->store, (uint32_t)k) : NULL;
    if (r) {
        sbuf_puts(&b, s_env_open);
        sbuf_puts(&b, "<LayCongDanResponse xmlns=\"" NS_TNS "\">");
        sbuf_put(&b, r->p, r->len);
        sbuf_puts(&b, "</LayCongDanResponse>");
        sbuf_puts(&b, s_env_close);
        found = true;
    }
    recstore_unlock(self->store);
    if (!found) {
        sbuf_free(&b);
        return s_fault(self, req, 500, "Client", "Không tìm thấy công dân",
                       "no record with this MaCongDan");
    }
    __atomic_add_fetch(&self->served, 1, __ATOMIC_RELAXED);
    return http_reply(req, 200, CT_XML, b.p, b.len, NULL);
}

static enum MHD_Result s_soap(dn_pop_t *self, http_req_t *req)
{
    const char *ctype = http_header(req, "Content-Type");
    if (ctype && strncmp(ctype, "text/xml", 8) != 0)
        return s_fault(self, req, 415, "Client", "Content-Type phải là text/xml (SOAP 1.1)",
                       "SOAP 1.1 requires Content-Type: text/xml");
    xmlDoc *doc = xmlReadMemory(req->body, (int)req->body_len, "request.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        char detail[256];
        snprintf(detail, sizeof detail, "line %d: %s", e ? e->line : 0,
                 e && e->message ? e->message : "not XML");
        size_t l = strlen(detail);
        while (l && detail[l - 1] == '\n')
            detail[--l] = 0;
        return s_fault(self, req, 500, "Client", "Yêu cầu không phải XML hợp lệ", detail);
    }
    enum MHD_Result rc;
    xmlNode *root = xmlDocGetRootElement(doc), *header = NULL, *body = NULL;
    if (s_is(root, NS_SOAP12, "Envelope")) {
        rc = s_fault(self, req, 500, "VersionMismatch", "Chỉ hỗ trợ SOAP 1.1",
                     "use the SOAP 1.1 envelope namespace " NS_SOAP11);
        goto out;
    }
    if (!s_is(root, NS_SOAP11, "Envelope")) {
        rc = s_fault(self, req, 500, "Client", "Không phải SOAP Envelope",
                     "the root must be {" NS_SOAP11 "}Envelope");
        goto out;
    }
    for (xmlNode *c = root->children; c; c = c->next) {
        if (s_is(c, NS_SOAP11, "Header"))
            header = c;
        else if (s_is(c, NS_SOAP11, "Body"))
            body = c;
    }
    xmlNode *op = body ? s_first_el(body->children) : NULL;
    if (!op) {
        rc = s_fault(self, req, 500, "Client", "Thiếu soap:Body hoặc thao tác",
                     "soap:Body must hold one operation element");
        goto out;
    }
    const char *why = s_auth(self, header);
    if (why) {
        rc = s_fault(self, req, 500, "Client", "Xác thực không thành công", why);
        goto out;
    }
    const char *action = http_header(req, "SOAPAction");
    char want[128];
    snprintf(want, sizeof want, "\"" NS_TNS "/%s\"", (const char *)op->name);
    if (action && *action && strcmp(action, "\"\"") && strcmp(action, want)
        && strncmp(action, want + 1, strlen(want) - 2)) {
        rc = s_fault(self, req, 500, "Client", "SOAPAction không khớp với thao tác",
                     "SOAPAction must be " NS_TNS "/<operation> (or empty)");
        goto out;
    }
    if (s_is(op, NS_TNS, "LayDanhSachCongDan"))
        rc = s_list(self, req, op);
    else if (s_is(op, NS_TNS, "LayCongDan"))
        rc = s_one(self, req, op);
    else
        rc = s_fault(self, req, 500, "Client", "Thao tác không tồn tại",
                     "operations: {" NS_TNS "}LayDanhSachCongDan, LayCongDan");
out:
    xmlFreeDoc(doc);
    return rc;
}

static enum MHD_Result s_handle(void *cls, http_req_t *req)
{
    dn_pop_t *self = cls;
    __atomic_add_fetch(&self->requests, 1, __ATOMIC_RELAXED);
    if (req->fault.mode == FAULT_ERROR)
        return s_fault(self, req, req->fault.status, "Server",
                       "Hệ thống tạm thời gián đoạn, vui lòng thử lại sau",
                       "service temporarily unavailable");
    if (strcmp(req->url, PATH_WS) != 0)
        return http_reply_text(req, 404, "text/plain; charset=utf-8",
                               "404: the service is at " PATH_WS " (WSDL: " PATH_WS "?wsdl)\n");
    if (!strcmp(req->method, "GET")) {
        if (!http_has_arg(req, "wsdl") && !http_has_arg(req, "WSDL"))
            return http_reply_text(req, 400, "text/plain; charset=utf-8",
                                   "SOAP 1.1 endpoint: POST a soap:Envelope, or GET ?wsdl\n");
        sbuf_t b;
        sbuf_init(&b);
        const char *p = s_wsdl, *at;
        while ((at = strstr(p, "%PORT%"))) {
            sbuf_put(&b, p, (size_t)(at - p));
            sbuf_printf(&b, "%u", (unsigned)httpd_port(self->http));
            p = at + 6;
        }
        sbuf_puts(&b, p);
        return http_reply(req, 200, CT_XML, b.p, b.len, NULL);
    }
    if (strcmp(req->method, "POST") != 0)
        return http_reply_text(req, 405, "text/plain; charset=utf-8", "POST or GET ?wsdl\n");
    return s_soap(self, req);
}

/* ---- changes ----------------------------------------------------------- */

enum { F_SDD, F_CMND, F_HO, F_CHUDEM, F_TEN, F_GT, F_NS, F_TINH, F_HUYEN, F_XA, F_TENXA,
       F_CHITIET, F_MAHO, F_QH, F_CHA, F_ME, F_VC, F__N };
static const char *const s_fields[F__N] = {
    "SoDinhDanh", "SoCMND", "Ho", "ChuDem", "Ten", "GioiTinh", "NgaySinh", "MaTinh",
    "MaQuanHuyen", "MaPhuongXa", "TenPhuongXa", "ChiTiet", "MaHo", "QuanHeChuHo", "HoTenCha",
    "HoTenMe", "HoTenVoChong"
};

typedef struct {
    char id[16];
    char f[F__N][256];
} s_cd_t;

static void s_walk(xmlNode *n, s_cd_t *cd)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (int i = 0; i < F__N; i++)
            if (!strcmp((const char *)n->name, s_fields[i])) {
                char *t = (char *)xmlNodeGetContent(n);
                snprintf(cd->f[i], sizeof cd->f[i], "%s", t ? t : "");
                xmlFree(t);
            }
        if (!strcmp((const char *)n->name, "HoTen") || !strcmp((const char *)n->name, "ThuongTru"))
            s_walk(n->children, cd);
    }
}

static int s_read_cd(const rec_t *r, s_cd_t *cd)
{
    memset(cd, 0, sizeof *cd);
    xmlDoc *doc = xmlReadMemory(r->p, (int)r->len, "record.xml", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlChar *id = xmlGetProp(root, (const xmlChar *)"id");
    snprintf(cd->id, sizeof cd->id, "%s", id ? (const char *)id : "");
    xmlFree(id);
    s_walk(root->children, cd);
    xmlFreeDoc(doc);
    return 0;
}

static char *s_render(const s_cd_t *cd, int64_t ts, size_t *len)
{
    sbuf_t b;
    sbuf_init(&b);
    sbuf_printf(&b, "<CongDan id=\"%s\" capNhat=\"", cd->id);
    sbuf_ts_iso(&b, ts);
    sbuf_puts(&b, "\">");
    sbuf_xml_el(&b, "SoDinhDanh", cd->f[F_SDD]);
    sbuf_xml_el(&b, "SoCMND", cd->f[F_CMND]);
    sbuf_puts(&b, "<HoTen>");
    for (int i = F_HO; i <= F_TEN; i++)
        sbuf_xml_el(&b, s_fields[i], cd->f[i]);
    sbuf_puts(&b, "</HoTen>");
    sbuf_xml_el(&b, "GioiTinh", cd->f[F_GT]);
    sbuf_xml_el(&b, "NgaySinh", cd->f[F_NS]);
    sbuf_puts(&b, "<ThuongTru>");
    for (int i = F_TINH; i <= F_CHITIET; i++)
        sbuf_xml_el(&b, s_fields[i], cd->f[i]);
    sbuf_puts(&b, "</ThuongTru>");
    for (int i = F_MAHO; i <= F_VC; i++)
        sbuf_xml_el(&b, s_fields[i], cd->f[i]);
    sbuf_puts(&b, "</CongDan>");
    *len = b.len;
    return b.p;
}

/* After the merger the register carries the 2025 commune without district. */
static void s_recode_2025(dn_pop_t *self, s_cd_t *cd)
{
    if (!cd->f[F_HUYEN][0])
        return;
    const refdata_t *rd = self->env.rd;
    for (uint32_t i = 0; i < rd->n_communes; i++) {
        const commune_t *c = &rd->communes[i];
        if (strcmp(c->code, cd->f[F_XA]) != 0 || !c->n_new)
            continue;
        const unit25_t *u = &rd->units25[c->new_idx[c->n_new > 1 ? rng_below(&self->rng, c->n_new) : 0]];
        snprintf(cd->f[F_XA], sizeof cd->f[F_XA], "%s", u->code);
        snprintf(cd->f[F_TENXA], sizeof cd->f[F_TENXA], "%s", u->name);
        cd->f[F_HUYEN][0] = 0;
        return;
    }
}

static bool s_pick(dn_pop_t *self, int kind, s_cd_t *cd)
{
    size_t n = recstore_count(self->store);
    int this_year = date_year(ts_date(self->clock));
    for (int tries = 0; n && tries < 400; tries++) {
        if (s_read_cd(recstore_at(self->store, rng_below(&self->rng, (uint32_t)n)), cd))
            continue;
        int by = atoi(cd->f[F_NS]);
        bool ok = by > 1800;
        if (kind == 0)
            ok = ok && !strcmp(cd->f[F_GT], "Nữ") && this_year - by >= 20 && this_year - by <= 42
                 && cd->f[F_VC][0];
        else if (kind == 1)
            ok = ok && this_year - by >= 18;
        else
            ok = ok && !cd->f[F_SDD][0] && cd->f[F_CMND][0];
        if (ok)
            return true;
    }
    return false;
}

static const char *const s_kind[3] = { "birth", "move", "new_id" };

static bool s_change_one(dn_pop_t *self, int kind, sbuf_t *json)
{
    s_cd_t cd;
    if (!s_pick(self, kind, &cd))
        return false;
    int64_t ts = chg_tick(&self->clock, &self->rng);
    uint32_t key;
    if (kind == 0) {
        s_cd_t c;
        memset(&c, 0, sizeof c);
        key = recstore_max_key(self->store) + 1;
        snprintf(c.id, sizeof c.id, "CD%08u", key);
        int sex = (int)rng_below(&self->rng, 2);
        int32_t dob = ts_date(ts) - (int32_t)rng_range(&self->rng, 3, 40);
        int y, m, d;
        date_split(dob, &y, &m, &d);
        chg_personal_id(&self->rng, "048", sex, y, c.f[F_SDD]);
        chg_first_word(cd.f[F_VC], c.f[F_HO], sizeof c.f[F_HO]);
        sbuf_t mg;
        sbuf_init(&mg);
        chg_middle_given(self->env.rd, &self->rng, sex, &mg);
        const char *sp = strrchr(mg.p, ' ');
        if (sp) {
            snprintf(c.f[F_CHUDEM], sizeof c.f[F_CHUDEM], "%.*s", (int)(sp - mg.p), mg.p);
            snprintf(c.f[F_TEN], sizeof c.f[F_TEN], "%s", sp + 1);
        } else {
            snprintf(c.f[F_TEN], sizeof c.f[F_TEN], "%s", mg.p);
        }
        sbuf_free(&mg);
        snprintf(c.f[F_GT], sizeof c.f[F_GT], "%s", sex ? "Nữ" : "Nam");
        snprintf(c.f[F_NS], sizeof c.f[F_NS], "%04d-%02d-%02d", y, m, d);
        for (int i = F_TINH; i <= F_MAHO; i++)
            memcpy(c.f[i], cd.f[i], sizeof c.f[i]);
        const char *rel = cd.f[F_QH];
        snprintf(c.f[F_QH], sizeof c.f[F_QH], "%s",
                 (!strcmp(rel, "Chủ hộ") || !strcmp(rel, "Vợ")) ? "Con"
                 : !strcmp(rel, "Con dâu") ? "Cháu" : "Khác");
        memcpy(c.f[F_CHA], cd.f[F_VC], sizeof c.f[F_CHA]);
        sbuf_t me;
        sbuf_init(&me);
        sbuf_puts(&me, cd.f[F_HO]);
        if (cd.f[F_CHUDEM][0]) {
            sbuf_putc(&me, ' ');
            sbuf_puts(&me, cd.f[F_CHUDEM]);
        }
        sbuf_putc(&me, ' ');
        sbuf_puts(&me, cd.f[F_TEN]);
        size_t ml = me.len < sizeof c.f[F_ME] - 1 ? me.len : sizeof c.f[F_ME] - 1;
        memcpy(c.f[F_ME], me.p, ml);
        c.f[F_ME][ml] = 0;
        sbuf_free(&me);
        cd = c;
    } else if (kind == 1) {
        s_cd_t dst;
        if (!s_pick(self, 1, &dst) || !strcmp(dst.f[F_XA], cd.f[F_XA]))
            return false;
        s_recode_2025(self, &dst);
        for (int i = F_TINH; i <= F_CHITIET; i++)
            memcpy(cd.f[i], dst.f[i], sizeof cd.f[i]);
        snprintf(cd.f[F_MAHO], sizeof cd.f[F_MAHO], "HK%012llu",
                 (unsigned long long)(rng_next(&self->rng) % 1000000000000ULL));
        snprintf(cd.f[F_QH], sizeof cd.f[F_QH], "Chủ hộ");
        key = (uint32_t)atol(cd.id + 2);
    } else {
        int by = atoi(cd.f[F_NS]);
        chg_personal_id(&self->rng, "048", !strcmp(cd.f[F_GT], "Nữ"), by, cd.f[F_SDD]);
        key = (uint32_t)atol(cd.id + 2);
    }
    s_recode_2025(self, &cd);
    size_t len;
    char *text = s_render(&cd, ts, &len);
    recstore_put(self->store, key, text, len, ts);
    self->changes[kind]++;
    sbuf_t t;
    sbuf_init(&t);
    sbuf_ts_iso(&t, ts);
    sbuf_printf(json, "%s{\"id\":\"%s\",\"kind\":\"%s\",\"updated_at\":\"%s\"}",
                json->p[json->len - 1] == '[' ? "" : ",", cd.id, s_kind[kind], t.p);
    sbuf_free(&t);
    return true;
}

static int dn_pop_change(void *vself, long n, sbuf_t *json)
{
    dn_pop_t *self = vself;
    sbuf_puts(json, "{\"changes\":[");
    recstore_wrlock(self->store);
    if (self->clock < recstore_max_ts(self->store))
        self->clock = recstore_max_ts(self->store);
    long done = 0;
    for (long i = 0; i < n; i++) {
        uint32_t d = rng_below(&self->rng, 100);
        int kind = d < 40 ? 0 : d < 75 ? 1 : 2;
        bool ok = false;
        for (int a = 0; a < 8 && !ok; a++)          /* a move may pick its own commune */
            ok = s_change_one(self, a ? 1 : kind, json);
        if (ok)
            done++;
    }
    recstore_commit(self->store);
    sbuf_t ts;
    sbuf_init(&ts);
    sbuf_ts_iso(&ts, recstore_max_ts(self->store));
    sbuf_printf(json, "],\"applied\":%ld,\"records\":%zu,\"max_updated_at\":\"%s\"}", done,
                recstore_count(self->store), ts.p);
    recstore_unlock(self->store);
    sbuf_free(&ts);
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static void *dn_pop_create(const sim_env_t *env, char *err, size_t errsz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dn-population/congdan.xml", env->conf->data);
    xmlInitParser();
    dn_pop_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    rng_seed(&self->rng, env->conf->seed, 0x51000 + (uint64_t)env->index);
    self->store = recstore_open(path, s_parse, err, errsz);
    if (!self->store) {
        free(self);
        return NULL;
    }
    self->clock = recstore_max_ts(self->store);
    self->http = httpd_new("dn-population", (uint16_t)env->opts->port, 1024 * 1024, s_handle,
                           self, env->fault, err, errsz);
    if (!self->http) {
        recstore_destroy(&self->store);
        free(self);
        return NULL;
    }
    return self;
}

static void dn_pop_where(void *vself, sbuf_t *out)
{
    dn_pop_t *self = vself;
    sbuf_printf(out, "http://127.0.0.1:%u" PATH_WS " (SOAP 1.1, WSDL ?wsdl, %zu records%s)",
                (unsigned)httpd_port(self->http), recstore_count(self->store),
                self->env.opts->username && *self->env.opts->username
                    ? ", WS-Security UsernameToken" : "");
}

static void dn_pop_status(void *vself, sbuf_t *json)
{
    dn_pop_t *self = vself;
    recstore_rdlock(self->store);
    size_t n = recstore_count(self->store);
    sbuf_t ts;
    sbuf_init(&ts);
    sbuf_ts_iso(&ts, recstore_max_ts(self->store));
    recstore_unlock(self->store);
    sbuf_printf(json, "{\"url\":\"http://127.0.0.1:%u" PATH_WS "\",\"records\":%zu,"
                      "\"max_updated_at\":\"%s\",\"requests\":%llu,\"records_served\":%llu,"
                      "\"soap_faults\":%llu,"
                      "\"changes\":{\"birth\":%llu,\"move\":%llu,\"new_id\":%llu}}",
                (unsigned)httpd_port(self->http), n, ts.p,
                (unsigned long long)__atomic_load_n(&self->requests, __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(&self->served, __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(&self->faults, __ATOMIC_RELAXED),
                (unsigned long long)self->changes[0], (unsigned long long)self->changes[1],
                (unsigned long long)self->changes[2]);
    sbuf_free(&ts);
}

static void dn_pop_destroy(void **self_p)
{
    dn_pop_t *self = *self_p;
    if (!self)
        return;
    httpd_destroy(&self->http);
    recstore_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

const sim_ops_t dn_pop_ops = {
    .create = dn_pop_create,
    .where = dn_pop_where,
    .change = dn_pop_change,
    .status = dn_pop_status,
    .destroy = dn_pop_destroy,
};
