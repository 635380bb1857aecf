/* test-soappage.c — unit tests of the SOAP side: templates (placeholders,
 * escaping, errors), answers (records by XPath with namespaces, ids,
 * watermarks, totals, payload = the element with its namespaces), faults
 * (SOAP 1.1 Client/Server, 1.2), what is not XML or not SOAP, and that an
 * external entity is never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "soappage.h"

#define ENV_OPEN "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
#define ENV_CLOSE "</soap:Body></soap:Envelope>"

static const char *ANSWER =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" ENV_OPEN
    "<LayDanhSachCongDanResponse xmlns=\"urn:lgsp-sim:dn-dancu:1\"><TongSo>3</TongSo><Trang>1</Trang>"
    "<SoTrang>2</SoTrang><SoBanGhi>2</SoBanGhi><DanhSachCongDan>"
    "<CongDan id=\"CD00001494\" capNhat=\"2025-09-30T12:30:46+07:00\"><HoTen><Ho>Bùi</Ho>"
    "<Ten>Trang &amp; Co</Ten></HoTen><MaQuanHuyen/></CongDan>"
    "<CongDan capNhat=\"2025-09-30T12:31:00+07:00\"><HoTen><Ho>Lê</Ho></HoTen></CongDan>"
    "</DanhSachCongDan></LayDanhSachCongDanResponse>" ENV_CLOSE;

static soappage_conf_t s_conf(soap_ns_t *ns)
{
    char err[256];
    soappage_conf_t c = {.ns = ns, .nns = 1};
    c.records = soappage_compile("/soap:Envelope/soap:Body/dc:LayDanhSachCongDanResponse/"
                                 "dc:DanhSachCongDan/dc:CongDan", err, sizeof err);
    c.id = soappage_compile("@id", err, sizeof err);
    c.watermark = soappage_compile("@capNhat", err, sizeof err);
    c.total_pages = soappage_compile("//dc:SoTrang", err, sizeof err);
    c.total = soappage_compile("number(//dc:TongSo)", err, sizeof err);
    return c;
}

static void s_free_conf(soappage_conf_t *c)
{
    xmlXPathFreeCompExpr(c->records);
    xmlXPathFreeCompExpr(c->id);
    xmlXPathFreeCompExpr(c->watermark);
    xmlXPathFreeCompExpr(c->total_pages);
    xmlXPathFreeCompExpr(c->total);
}

static soap_ns_t NS[2] = {{"dc", "urn:lgsp-sim:dn-dancu:1"},
                          {"soap", "http://schemas.xmlsoap.org/soap/envelope/"}};

static int s_parse(soappage_t *p, const soappage_conf_t *c, const char *body, pullsrc_page_t *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->total_pages = pg->total = -1;
    return soappage_parse(p, c, body, strlen(body), pg);
}

static void test_template(void **state)
{
    char err[256];
    soap_template_t *t = soap_template_new(
        "<a><s>${since}</s><p>${page}</p><n>${page_size}</n><u>${username}</u><w>${password}</w>$x{</a>",
        err, sizeof err);
    assert_non_null(t);
    soap_values_t v = {"2025-01-01T00:00:00+07:00", "3", "500", "lgsp", "p<&>\"'"};
    size_t len;
    char *r = soap_template_render(t, &v, &len);
    assert_string_equal(r, "<a><s>2025-01-01T00:00:00+07:00</s><p>3</p><n>500</n><u>lgsp</u>"
                           "<w>p&lt;&amp;&gt;&quot;&apos;</w>$x{</a>");
    assert_int_equal(len, strlen(r));
    free(r);
    soap_values_t empty = {NULL, "1", "2", NULL, NULL};
    r = soap_template_render(t, &empty, NULL);
    assert_non_null(strstr(r, "<s></s>"));
    free(r);
    soap_template_destroy(&t);
    assert_null(t);

    assert_null(soap_template_new("<a>${sinse}</a>", err, sizeof err));
    assert_non_null(strstr(err, "unknown placeholder ${sinse}"));
    assert_null(soap_template_new("<a>${since</a>", err, sizeof err));
    assert_non_null(strstr(err, "unclosed"));
}

static void test_answer(void **state)
{
    soappage_conf_t c = s_conf(NS);
    soappage_t p = {0};
    pullsrc_page_t pg;
    assert_int_equal(s_parse(&p, &c, ANSWER, &pg), PULLSRC_PAGE);
    assert_int_equal(pg.count, 2);
    assert_int_equal(pg.total_pages, 2);
    assert_int_equal(pg.total, 3);
    pullsrc_item_t it = {0};
    assert_int_equal(soappage_item(&p, &c, 0, &it), 0);
    assert_null(it.reason);
    assert_string_equal(it.source_id, "CD00001494");
    assert_string_equal(it.watermark, "2025-09-30T12:30:46+07:00");
    /* the element alone, declaring the default namespace it inherited */
    assert_string_equal(it.payload, "<CongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\" id=\"CD00001494\" "
                                    "capNhat=\"2025-09-30T12:30:46+07:00\"><HoTen><Ho>Bùi</Ho>"
                                    "<Ten>Trang &amp; Co</Ten></HoTen><MaQuanHuyen/></CongDan>");
    assert_int_equal(it.payload_len, strlen(it.payload));
    memset(&it, 0, sizeof it);
    assert_int_equal(soappage_item(&p, &c, 1, &it), 0);
    assert_non_null(it.reason);
    assert_non_null(strstr(it.reason, "no id"));
    assert_non_null(strstr(it.payload, "<Ho>Lê</Ho>"));
    soappage_release(&p);

    /* an empty page: no record nodes */
    const char *none = ENV_OPEN "<LayDanhSachCongDanResponse xmlns=\"urn:lgsp-sim:dn-dancu:1\">"
                       "<TongSo>0</TongSo><SoTrang>0</SoTrang><DanhSachCongDan/>"
                       "</LayDanhSachCongDanResponse>" ENV_CLOSE;
    assert_int_equal(s_parse(&p, &c, none, &pg), PULLSRC_PAGE);
    assert_int_equal(pg.count, 0);
    assert_int_equal(pg.total_pages, 0);
    soappage_release(&p);

    /* an undeclared prefix in the records XPath: found at start, and an
     * answer read with it fails (not quarantined: the settings are wrong) */
    soappage_conf_t bad = s_conf(NS);
    bad.ns = NS + 1;
    char err[300];
    assert_int_equal(soappage_check(&bad, bad.records, true, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot be evaluated"));
    assert_int_equal(soappage_check(&c, c.records, true, err, sizeof err), 0);
    assert_int_equal(soappage_check(&c, c.total, true, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not select nodes (it gives a number)"));
    assert_int_equal(soappage_check(&c, c.total, false, err, sizeof err), 0);
    assert_int_equal(s_parse(&p, &bad, ANSWER, &pg), PULLSRC_FAILED);
    assert_non_null(strstr(pg.reason, "records XPath"));
    soappage_release(&p);
    s_free_conf(&bad);
    s_free_conf(&c);
}

static void test_not_soap(void **state)
{
    soappage_conf_t c = s_conf(NS);
    soappage_t p = {0};
    pullsrc_page_t pg;
    assert_int_equal(s_parse(&p, &c, "<html><body>502 Bad Gateway", &pg), PULLSRC_MALFORMED);
    assert_non_null(strstr(pg.reason, "not XML"));
    assert_int_equal(s_parse(&p, &c, "Service Unavailable", &pg), PULLSRC_MALFORMED);
    assert_non_null(strstr(pg.reason, "not XML: Start tag expected"));
    assert_int_equal(s_parse(&p, &c, "<ok/>", &pg), PULLSRC_MALFORMED);
    assert_string_equal(pg.reason, "not a SOAP envelope (root element <ok>)");
    soappage_release(&p);
    s_free_conf(&c);
}

static void test_faults(void **state)
{
    const char *client = ENV_OPEN "<soap:Fault><faultcode>soap:Client</faultcode>"
                         "<faultstring>Sai tên đăng nhập</faultstring><detail><LoiChiTiet>"
                         "wrong\n   UsernameToken</LoiChiTiet></detail></soap:Fault>" ENV_CLOSE;
    const char *server = ENV_OPEN "<soap:Fault><faultcode>soap:Server</faultcode>"
                         "<faultstring>Hệ thống bận</faultstring></soap:Fault>" ENV_CLOSE;
    const char *v12 = "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body><e:Fault>"
                      "<e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text xml:lang=\"en\">"
                      "busy</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>";
    char what[300];
    bool retry = true;
    assert_true(soappage_fault(client, strlen(client), what, sizeof what, &retry));
    assert_false(retry);
    assert_string_equal(what, "soap:Client fault: Sai tên đăng nhập (wrong UsernameToken)");
    assert_true(soappage_fault(server, strlen(server), what, sizeof what, &retry));
    assert_true(retry);
    assert_string_equal(what, "soap:Server fault: Hệ thống bận");
    assert_true(soappage_fault(v12, strlen(v12), what, sizeof what, &retry));
    assert_true(retry);
    assert_string_equal(what, "soap:Receiver fault: busy");
    assert_false(soappage_fault(ANSWER, strlen(ANSWER), what, sizeof what, &retry));
    assert_false(soappage_fault("nope", 4, what, sizeof what, &retry));

    soappage_conf_t c = s_conf(NS);
    soappage_t p = {0};
    pullsrc_page_t pg;
    assert_int_equal(s_parse(&p, &c, client, &pg), PULLSRC_MALFORMED);
    assert_string_equal(pg.reason, "soap:Client fault: Sai tên đăng nhập (wrong UsernameToken)");
    soappage_release(&p);
    s_free_conf(&c);
}

static void test_no_external_entities(void **state)
{
    /* A file the parser would read if it resolved external entities. */
    char path[] = "/tmp/soappage-xxe-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "SECRET-CONTENT", 14), 14);
    close(fd);
    char body[1024];
    snprintf(body, sizeof body,
             "<?xml version=\"1.0\"?><!DOCTYPE soap:Envelope [<!ENTITY x SYSTEM \"file://%s\">]>"
             ENV_OPEN "<r xmlns=\"urn:lgsp-sim:dn-dancu:1\"><DanhSachCongDan>"
             "<CongDan id=\"a\">&x;</CongDan></DanhSachCongDan></r>" ENV_CLOSE, path);
    soap_ns_t ns[] = {{"dc", "urn:lgsp-sim:dn-dancu:1"}};
    char err[128];
    soappage_conf_t c = {.ns = ns, .nns = 1};
    c.records = soappage_compile("//dc:CongDan", err, sizeof err);
    c.id = soappage_compile("@id", err, sizeof err);
    soappage_t p = {0};
    pullsrc_page_t pg;
    assert_int_equal(s_parse(&p, &c, body, &pg), PULLSRC_PAGE);
    pullsrc_item_t it = {0};
    assert_int_equal(soappage_item(&p, &c, 0, &it), 0);
    assert_null(strstr(it.payload, "SECRET"));
    soappage_release(&p);
    xmlXPathFreeCompExpr(c.records);
    xmlXPathFreeCompExpr(c.id);
    unlink(path);

    assert_null(soappage_compile("//dc:[", err, sizeof err));
    assert_non_null(strstr(err, "not an XPath expression"));
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_not_soap),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_no_external_entities),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
