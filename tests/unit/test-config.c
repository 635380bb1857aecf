/* test-config.c — the configuration subsystem (bus/config.c, bus/yamlconf.c):
 * the reference configs load, defaults fill in, every kind of error gives
 * its exact "file:line: ..." message, topic policies and access lists,
 * reload checks, size/duration parsing, and no crash on hostile input.
 *
 * Every test writes its YAML into a fresh temporary folder. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#ifndef CONFIG_SRC_DIR
#error "CONFIG_SRC_DIR (the source tree's config/ folder) must be defined"
#endif

/* Public halves of keypairs made with zmq_curve_keypair (secrets thrown
 * away), and one secret key for the server. */
#define KEY_A "3HUv%C{X?o@bKOLiaTbtEB43GnaJVMh<VR2viCIy"
#define KEY_B "=W{QJux=@[UgGvc{Lp]h856uq08tSgqIt<.wMx/@"
#define KEY_C "MIm#XI22G3EPFU=iDu]U0+OE<mxQpz920o0m-6)z"
#define KEY_D "NgFJdeIm3QyA#x2bVuaAjGu)#g=Nf.{}cr%*3Z>v"
#define SECRET "94fdD+6-&{jUJgx3XfN>7U3=fYDwCmY6&0Q82vAc"
#define SECRET2 "El8{$GuGrav/)!Y]s(uRUD%9gVh%B)*U<E$VqKI9"

static char s_dir[256];

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/lgsp-test-config-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    return nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes to s_dir/name (folders created); returns the path. */
static char *s_write_n(const char *name, const char *text, size_t len)
{
    char *path;
    assert_true(asprintf(&path, "%s/%s", s_dir, name) > 0);
    for (char *p = path + strlen(s_dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    chmod(path, 0600);
    return path;
}

static char *s_write(const char *name, const char *text)
{
    return s_write_n(name, text, strlen(text));
}

static config_t *s_load_ok_at(const char *text, int line)
{
    char *path = s_write("lgspd.yaml", text), *err = NULL;
    config_t *cfg = config_load(path, &err);
    if (!cfg)
        fail_msg("test line %d: expected to load, got: %s", line, err);
    assert_null(err);
    free(path);
    return cfg;
}
#define LOAD_OK(text) s_load_ok_at(text, __LINE__)

/* Loading text must fail with exactly "<path>" + suffix. */
static void s_expect_err_n(const char *text, size_t len, const char *suffix, int line)
{
    char *path = s_write_n("lgspd.yaml", text, len), *err = NULL, *want;
    config_t *cfg = config_load(path, &err);
    if (cfg)
        fail_msg("test line %d: loaded, but expected %s", line, suffix);
    assert_non_null(err);
    assert_true(asprintf(&want, "%s%s", path, suffix) > 0);
    if (strcmp(err, want) != 0)
        fail_msg("test line %d:\n  want: %s\n  got:  %s", line, want, err);
    free(want);
    free(err);
    free(path);
}
#define EXPECT_ERR(text, suffix) s_expect_err_n(text, strlen(text), suffix, __LINE__)

#define PLAIN "security: { mode: plain }\n"

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- the shipped configs ------------------------------------------------- */

static void test_reference_config(void **state)
{
    size_t len;
    char *text = s_read_file(CONFIG_SRC_DIR "/lgspd.yaml", &len);
    /* The reference names keys/lgspd.key relative to its own folder. */
    free(s_write("keys/lgspd.key", "# lgspd's secret key (lgsp keygen)\n\n" SECRET "\n"));
    char *path = s_write_n("lgspd.yaml", text, len), *err = NULL;
    config_t *cfg = config_load(path, &err);
    if (!cfg)
        fail_msg("the reference config does not load: %s", err);
    assert_int_equal(cfg->security_mode, SECURITY_CURVE);
    assert_string_equal(cfg->server_secret_key, SECRET);
    char *keyfile;
    assert_true(asprintf(&keyfile, "%s/keys/lgspd.key", s_dir) > 0);
    assert_string_equal(cfg->server_secret_key_file, keyfile);
    free(keyfile);
    assert_string_equal(cfg->path, path);
    assert_int_equal(cfg->n_clients, 4);
    assert_string_equal(config_client_by_key(cfg, KEY_C), "mapper");
    assert_true(config_is_admin(cfg, "ops"));
    assert_false(config_is_admin(cfg, "mapper"));
    assert_true(config_may_publish(cfg, "qn-population", "raw.hokhau"));
    assert_false(config_may_publish(cfg, "mapper", "raw.hokhau"));
    assert_true(config_may_subscribe(cfg, "mapper", "raw.hokhau"));
    assert_int_equal(cfg->n_topics, 2);
    const topic_policy_t *p = config_topic_policy(cfg, "citizen.registered");
    assert_int_equal(p->max_attempts, 10);
    assert_int_equal(p->visibility_timeout_ms, 120000);
    assert_int_equal(p->retention_max_age_ms, UINT64_C(30) * 86400000);
    assert_true(p->retention_protect_unacked);  /* from the defaults */

    /* The reference writes out the built-in defaults: they must agree. */
    config_t *def = LOAD_OK(PLAIN);
    assert_int_equal(cfg->log_level, def->log_level);
    assert_string_equal(cfg->bus_endpoint, def->bus_endpoint);
    assert_int_equal(cfg->heartbeat_ms, def->heartbeat_ms);
    assert_int_equal(cfg->pub_window, def->pub_window);
    assert_int_equal(cfg->max_message_bytes, def->max_message_bytes);
    assert_int_equal(cfg->max_held_bytes, def->max_held_bytes);
    assert_string_equal(cfg->http_listen, def->http_listen);
    assert_string_equal(cfg->journal_path, def->journal_path);
    assert_int_equal(cfg->journal_map_size, def->journal_map_size);
    assert_int_equal(cfg->journal_max_topics, def->journal_max_topics);
    assert_int_equal(cfg->commit_max_messages, def->commit_max_messages);
    assert_int_equal(cfg->commit_max_bytes, def->commit_max_bytes);
    assert_int_equal(cfg->retention_interval_ms, def->retention_interval_ms);
    const topic_policy_t *a = &cfg->topic_defaults, *b = &def->topic_defaults;
    assert_int_equal(a->retention_max_age_ms, b->retention_max_age_ms);
    assert_int_equal(a->retention_max_bytes, b->retention_max_bytes);
    assert_int_equal(a->retention_protect_unacked, b->retention_protect_unacked);
    assert_int_equal(a->max_lag, b->max_lag);
    assert_int_equal(a->max_attempts, b->max_attempts);
    assert_int_equal(a->visibility_timeout_ms, b->visibility_timeout_ms);
    assert_int_equal(a->n_publish, 1);
    assert_string_equal(a->publish[0], "*");
    config_destroy(&def);
    config_destroy(&cfg);
    assert_null(cfg);
    free(path);
    free(text);
}

static void test_dev_config(void **state)
{
    char *err = NULL;
    config_t *cfg = config_load(CONFIG_SRC_DIR "/dev-plain.yaml", &err);
    if (!cfg)
        fail_msg("dev-plain.yaml does not load: %s", err);
    assert_int_equal(cfg->security_mode, SECURITY_PLAIN);
    assert_string_equal(cfg->journal_path, CONFIG_SRC_DIR "/var/journal");
    assert_string_equal(cfg->bus_endpoint, "tcp://127.0.0.1:7600");
    assert_string_equal(cfg->http_listen, "127.0.0.1:7601");
    assert_int_equal(cfg->log_level, LOG_DEBUG);
    config_destroy(&cfg);
}

/* ---- defaults ---------------------------------------------------------------- */

static void test_defaults(void **state)
{
    config_t *cfg = LOAD_OK(PLAIN);
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->bus_endpoint, "tcp://127.0.0.1:7600");
    assert_int_equal(cfg->heartbeat_ms, 1000);
    assert_int_equal(cfg->pub_window, 10000);
    assert_int_equal(cfg->max_message_bytes, 1 << 20);
    assert_int_equal(cfg->max_held_bytes, 64 << 20);
    assert_string_equal(cfg->http_listen, "127.0.0.1:7601");
    assert_string_equal(cfg->journal_path, "/var/lib/lgsp/journal");
    assert_int_equal(cfg->journal_map_size, UINT64_C(16) << 30);
    assert_int_equal(cfg->journal_max_topics, 1024);
    assert_int_equal(cfg->commit_max_messages, 8192);
    assert_int_equal(cfg->commit_max_bytes, 32 << 20);
    assert_int_equal(cfg->retention_interval_ms, 1000);
    assert_int_equal(cfg->security_mode, SECURITY_PLAIN);
    assert_null(cfg->server_secret_key_file);
    assert_int_equal(cfg->n_clients, 0);
    assert_int_equal(cfg->n_admins, 0);
    assert_int_equal(cfg->n_topics, 0);
    const topic_policy_t *d = &cfg->topic_defaults;
    assert_ptr_equal(config_topic_policy(cfg, "anything"), d);
    assert_int_equal(d->line, 0);
    assert_int_equal(d->retention_max_age_ms, UINT64_C(7) * 86400000);
    assert_int_equal(d->retention_max_bytes, UINT64_C(10) << 30);
    assert_true(d->retention_protect_unacked);
    assert_int_equal(d->max_lag, 1000000);
    assert_int_equal(d->max_attempts, 5);
    assert_int_equal(d->visibility_timeout_ms, 30000);
    assert_int_equal(d->n_publish, 1);
    assert_string_equal(d->publish[0], "*");
    assert_int_equal(d->n_subscribe, 1);
    assert_string_equal(d->subscribe[0], "*");
    assert_true(config_may_publish(cfg, "anyone", "x"));
    assert_false(config_is_admin(cfg, "anyone"));
    config_destroy(&cfg);

    /* Empty sections and null lists are fine; partial sections keep the
     * other defaults. */
    cfg = LOAD_OK("log_level: warn\n"
                  "bus:\n"
                  "  pub_window: 7\n"
                  "http:\n"
                  "journal: { path: data/j, map_size: 1MiB, retention_interval: 1m30s }\n"
                  "security:\n"
                  "  mode: plain\n"
                  "  clients:\n"
                  "  admins:\n"
                  "topics:\n");
    assert_int_equal(cfg->log_level, LOG_WARN);
    assert_int_equal(cfg->pub_window, 7);
    assert_int_equal(cfg->heartbeat_ms, 1000);
    assert_int_equal(cfg->journal_map_size, 1 << 20);
    assert_int_equal(cfg->retention_interval_ms, 90000);
    char *want;
    assert_true(asprintf(&want, "%s/data/j", s_dir) > 0);
    assert_string_equal(cfg->journal_path, want);  /* relative to the file's folder */
    free(want);
    config_destroy(&cfg);
    config_destroy(&cfg);  /* NULL-safe */
    config_destroy(NULL);
}

/* ---- errors --------------------------------------------------------------------- */

static void test_errors_settings(void **state)
{
    EXPECT_ERR(PLAIN "bus:\n  heartbeat: 500\n",
               ":3: unknown setting 'bus.heartbeat'; did you mean 'bus.heartbeat_ms'?");
    EXPECT_ERR("log_level: info\nbus:\n  endpoint: \"tcp://127.0.0.1:7600\"\n  heartbeat_ms: 1000\n"
               "  max_message_bytes: 1MiB\n  max_held_bytes: 64MiB\n  pub_window: 0\n",
               ":7: bus.pub_window: 0 is below the minimum 1");
    EXPECT_ERR(PLAIN "colour: blue\n", ":2: unknown setting 'colour'");
    EXPECT_ERR(PLAIN "buss: {}\n", ":2: unknown setting 'buss'; did you mean 'bus'?");
    EXPECT_ERR(PLAIN "bus: { map_size: 1GiB }\n",
               ":2: unknown setting 'bus.map_size'; did you mean 'journal.map_size'?");
    EXPECT_ERR(PLAIN "heartbeat_ms: 5\n",
               ":2: unknown setting 'heartbeat_ms'; did you mean 'bus.heartbeat_ms'?");
    EXPECT_ERR(PLAIN "bus: { pub_window: 99999999999999999999999999 }\n",
               ":2: bus.pub_window: 99999999999999999999999999 is above the maximum 1000000");
    EXPECT_ERR(PLAIN "bus: { pub_window: 1000001 }\n",
               ":2: bus.pub_window: 1000001 is above the maximum 1000000");
    EXPECT_ERR(PLAIN "bus: { pub_window: -1 }\n", ":2: bus.pub_window: '-1' is not a whole number");
    EXPECT_ERR(PLAIN "bus: { pub_window: 10k }\n", ":2: bus.pub_window: '10k' is not a whole number");
    EXPECT_ERR(PLAIN "bus:\n  heartbeat_ms:\n",
               ":3: bus.heartbeat_ms: no value given (expected a whole number)");
    EXPECT_ERR(PLAIN "bus: { heartbeat_ms: [1] }\n",
               ":2: bus.heartbeat_ms: expected a whole number, found a list");
    EXPECT_ERR(PLAIN "bus: 5\n", ":2: bus: expected a map of settings, found a single value");
    EXPECT_ERR(PLAIN "bus: { endpoint: \"udp://1.2.3.4:5\" }\n",
               ":2: bus.endpoint: 'udp://1.2.3.4:5' is not a ZeroMQ endpoint such as "
               "tcp://127.0.0.1:7600 or ipc:///run/lgsp/bus");
    EXPECT_ERR(PLAIN "bus: { endpoint: \"\" }\n", ":2: bus.endpoint: must not be empty");
    EXPECT_ERR(PLAIN "journal: { map_size: 512KiB }\n",
               ":2: journal.map_size: 512KiB is below the minimum 1MiB");
    EXPECT_ERR(PLAIN "journal: { map_size: 16GB }\n",
               ":2: journal.map_size: '16GB' is not a size: write 16GiB (sizes are binary: KiB, "
               "MiB, GiB, TiB)");
    EXPECT_ERR(PLAIN "journal: { map_size: 1.5GiB }\n",
               ":2: journal.map_size: '1.5GiB' is not a size: write bytes, or a whole number with "
               "a unit KiB, MiB, GiB or TiB such as 64MiB");
    EXPECT_ERR(PLAIN "journal: { map_size: 99999999999TiB }\n",
               ":2: journal.map_size: 99999999999TiB is above the maximum 64TiB");
    EXPECT_ERR(PLAIN "journal: { retention_interval: 30 }\n",
               ":2: journal.retention_interval: '30' has no unit: write 30s or 30ms");
    EXPECT_ERR(PLAIN "journal: { retention_interval: soon }\n",
               ":2: journal.retention_interval: 'soon' is not a duration: write a whole number "
               "with a unit ms, s, m, h or d such as 30s, 500ms or 7d");
    EXPECT_ERR(PLAIN "journal: { retention_interval: 5ms }\n",
               ":2: journal.retention_interval: 5ms is below the minimum 10ms");
    EXPECT_ERR(PLAIN "journal: { retention_interval: 2h }\n",
               ":2: journal.retention_interval: 2h is above the maximum 1h");
    EXPECT_ERR(PLAIN "journal:\n  path:\n",
               ":3: journal.path: no value given (expected a text value)");
    EXPECT_ERR(PLAIN "log_level: verbose\n",
               ":2: log_level: 'verbose' is not one of error, warn, info, debug");
    EXPECT_ERR("security: { mode: open }\n",
               ":1: security.mode: 'open' is not one of curve, plain");
    EXPECT_ERR(PLAIN "http: { listen: \"0.0.0.0:7601\" }\n",
               ":2: http.listen: '0.0.0.0:7601' is not a loopback address (127.0.0.0/8, ::1 or "
               "localhost): the HTTP endpoint has no authentication");
    EXPECT_ERR(PLAIN "http: { listen: \"[::]:7601\" }\n",
               ":2: http.listen: '[::]:7601' is not a loopback address (127.0.0.0/8, ::1 or "
               "localhost): the HTTP endpoint has no authentication");
    EXPECT_ERR(PLAIN "http: { listen: \"127.0.0.1:70000\" }\n",
               ":2: http.listen: '127.0.0.1:70000': the port must be a number from 0 to 65535");
    EXPECT_ERR(PLAIN "http: { listen: \"127.0.0.1\" }\n",
               ":2: http.listen: '127.0.0.1' is not host:port or [address]:port");

    /* Loopback forms that are fine. */
    static const char *const ok[] = { "127.0.0.1:0", "127.9.8.7:80", "[::1]:7601",
                                      "localhost:7601", "LOCALHOST:1" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *text;
        assert_true(asprintf(&text, PLAIN "http: { listen: \"%s\" }\nbus: { endpoint: "
                             "\"tcp://127.0.0.1:*\" }\n", ok[i]) > 0);
        config_t *cfg = LOAD_OK(text);
        assert_string_equal(cfg->http_listen, ok[i]);
        config_destroy(&cfg);
        free(text);
    }
}

static void test_errors_topics(void **state)
{
    EXPECT_ERR(PLAIN "topics:\n  defaults:\n    max_attempts: 0\n",
               ":4: topics.defaults.max_attempts: 0 is below the minimum 1");
    EXPECT_ERR(PLAIN "topics:\n  defaults:\n    retention:\n      max_ag: 1d\n",
               ":5: unknown setting 'topics.defaults.retention.max_ag'; did you mean "
               "'topics.defaults.retention.max_age'?");
    EXPECT_ERR(PLAIN "topics:\n  defaults:\n    retention: { protect_unacked: maybe }\n",
               ":4: topics.defaults.retention.protect_unacked: 'maybe' is not true or false");
    EXPECT_ERR(PLAIN "topics:\n  defaults: { pattern: \"x\" }\n",
               ":3: unknown setting 'topics.defaults.pattern'");
    EXPECT_ERR(PLAIN "topics:\n  defaults: { visibility_timeout: 30 }\n",
               ":3: topics.defaults.visibility_timeout: '30' has no unit: write 30s or 30ms");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - { pattern: a }\n    - { max_attempt: 3, pattern: b }\n",
               ":5: unknown setting 'topics.rules[1].max_attempt'; did you mean "
               "'topics.rules[1].max_attempts'?");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - { pattern: a }\n    - { max_attempts: 0, pattern: b }\n",
               ":5: topics.rules[1].max_attempts: 0 is below the minimum 1");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - publish: [a]\n",
               ":4: topics.rules[0]: 'pattern' is required (the topic name, or a glob such as "
               "\"raw.*\")");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - { pattern: \"raw.*\" }\n    - { pattern: b }\n"
               "    - { pattern: \"raw.*\" }\n",
               ":6: topics.rules[2]: the pattern 'raw.*' is already used at line 4: this rule "
               "would never apply");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - { pattern: \"raw/*\" }\n",
               ":4: topics.rules[0].pattern: 'raw/*' is not a topic name or pattern (1-200 of "
               "A-Z a-z 0-9 . _ - and * for any run of characters)");
    EXPECT_ERR(PLAIN "topics:\n  rules:\n    - raw.*\n",
               ":4: topics.rules[0]: expected a map such as { pattern: \"raw.*\", publish: [a] }, "
               "found a single value");
    EXPECT_ERR(PLAIN "topics:\n  rules: { pattern: x }\n",
               ":3: topics.rules: expected a list of rules such as - { pattern: \"raw.*\", "
               "publish: [a] }, found a map");
    EXPECT_ERR(PLAIN "topics:\n  defaults: { publish: [a, \"b c\"] }\n",
               ":3: topics.defaults.publish: 'b c' is not a client name (1-200 of A-Z a-z 0-9 . _ "
               "-) nor \"*\"");
    EXPECT_ERR(PLAIN "topics:\n  defaults:\n    subscribe:\n      - a\n      - [b]\n",
               ":6: topics.defaults.subscribe: item 2: expected a client name, found a list");
    EXPECT_ERR(PLAIN "topics:\n  defaults: { publish: { a: 1 } }\n",
               ":3: topics.defaults.publish: expected a list of client names such as [a, b] or "
               "[\"*\"], found a map");
}

static void test_errors_security(void **state)
{
    free(s_write("server.key", SECRET "\n"));
    /* curve is the default: the secret key file is required */
    EXPECT_ERR("log_level: info\n",
               ":1: security.server_secret_key_file is required when security.mode is curve (the "
               "default; use 'mode: plain' only for local development)");
    EXPECT_ERR("log_level: info\nsecurity:\n  admins: []\n",
               ":2: security.server_secret_key_file is required when security.mode is curve (the "
               "default; use 'mode: plain' only for local development)");
    EXPECT_ERR("log_level: info\nsecurity:\n  admins: []\n  mode: curve\n",
               ":4: security.server_secret_key_file is required when security.mode is curve (the "
               "default; use 'mode: plain' only for local development)");
    char *want;
    assert_true(asprintf(&want, ":2: security.server_secret_key_file: cannot read '%s/missing.key': "
                         "No such file or directory", s_dir) > 0);
    EXPECT_ERR("security:\n  server_secret_key_file: missing.key\n", want);
    free(want);
    free(s_write("junk.key", "# a comment\n\nnot a key at all\n"));
    assert_true(asprintf(&want, ":2: security.server_secret_key_file: '%s/junk.key' does not hold "
                         "a 40-character Z85 key", s_dir) > 0);
    EXPECT_ERR("security:\n  server_secret_key_file: junk.key\n", want);
    free(want);
    free(s_write("empty.key", "# only a comment\n"));
    assert_true(asprintf(&want, ":2: security.server_secret_key_file: '%s/empty.key' holds no key",
                         s_dir) > 0);
    EXPECT_ERR("security:\n  server_secret_key_file: empty.key\n", want);
    free(want);

#define CURVE "security:\n  server_secret_key_file: server.key\n  clients:\n"
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"" KEY_A "x\" }\n",
               ":4: security.clients[0].public_key: not a Curve public key (40 characters of Z85 "
               "text, as printed by 'lgsp keygen')");
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"#####" KEY_A "\" }\n",
               ":4: security.clients[0].public_key: not a Curve public key (40 characters of Z85 "
               "text, as printed by 'lgsp keygen')");
    /* 40 characters, but one not in the Z85 alphabet */
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"3HUv%C{X?o@bKOLiaTbtEB43GnaJVMh<VR2viC\\\\y\" }\n",
               ":4: security.clients[0].public_key: not a Curve public key (40 characters of Z85 "
               "text, as printed by 'lgsp keygen')");
    /* 40 characters, each group overflowing 32 bits */
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"########################################\" }\n",
               ":4: security.clients[0].public_key: not a Curve public key (40 characters of Z85 "
               "text, as printed by 'lgsp keygen')");
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"" KEY_A "\" }\n"
               "    - { name: b, public_key: \"" KEY_B "\" }\n"
               "    - { name: a, public_key: \"" KEY_C "\" }\n",
               ":6: security.clients[2]: the client name 'a' is already used at line 4");
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"" KEY_A "\" }\n"
               "    - name: b\n      public_key: \"" KEY_A "\"\n",
               ":5: security.clients[1] (b): the same public key as client 'a' (line 4)");
    EXPECT_ERR(CURVE "    - { name: a }\n",
               ":4: security.clients[0] (a): give public_key or public_key_file");
    EXPECT_ERR(CURVE "    - { name: a, public_key: \"" KEY_A "\", public_key_file: a.pub }\n",
               ":4: security.clients[0] (a): give public_key or public_key_file, not both");
    EXPECT_ERR(CURVE "    - { public_key: \"" KEY_A "\" }\n", ":4: security.clients[0]: 'name' is required");
    EXPECT_ERR(CURVE "    - { name: \"*\", public_key: \"" KEY_A "\" }\n",
               ":4: security.clients[0].name: '*' is not a client name (1-200 of A-Z a-z 0-9 . _ -)");
    EXPECT_ERR(CURVE "    - { name: a, publickey: \"" KEY_A "\" }\n",
               ":4: unknown setting 'security.clients[0].publickey'; did you mean "
               "'security.clients[0].public_key'?");
    EXPECT_ERR(CURVE "    - { name: a, colour: red }\n",
               ":4: unknown setting 'security.clients[0].colour' (a client has name, and "
               "public_key or public_key_file)");
    EXPECT_ERR(CURVE "    - a\n",
               ":4: security.clients[0]: expected a map such as { name: a, public_key: \"...\" }, "
               "found a single value");
    EXPECT_ERR(CURVE "    - { name: a, public_key: [x] }\n",
               ":4: security.clients[0].public_key: expected a text value, found a list");
    assert_true(asprintf(&want, ":4: security.clients[0].public_key_file: cannot read '%s/keys/a.pub': "
                         "No such file or directory", s_dir) > 0);
    EXPECT_ERR(CURVE "    - { name: a, public_key_file: keys/a.pub }\n", want);
    free(want);

    /* In curve mode, access lists name configured clients. */
    EXPECT_ERR(CURVE "    - { name: qn-population, public_key: \"" KEY_A "\" }\n"
               "  admins: [qn-population, ops]\n",
               ":5: security.admins: 'ops' is not a client in security.clients");
    EXPECT_ERR(CURVE "    - { name: qn-population, public_key: \"" KEY_A "\" }\n"
               "topics:\n"
               "  rules:\n"
               "    - pattern: \"raw.*\"\n"
               "      publish:\n"
               "        - \"*\"\n"
               "        - qn-populaton\n",
               ":10: topics.rules[0].publish: 'qn-populaton' is not a client in security.clients; "
               "did you mean 'qn-population'?");
    EXPECT_ERR(CURVE "    - { name: qn-population, public_key: \"" KEY_A "\" }\n"
               "topics:\n  defaults: { subscribe: mapper }\n",
               ":6: topics.defaults.subscribe: 'mapper' is not a client in security.clients");
    /* ... but in plain mode any name goes (clients name themselves). */
    config_t *cfg = LOAD_OK(PLAIN "topics:\n  defaults: { subscribe: [mapper], publish: [] }\n");
    assert_true(config_may_subscribe(cfg, "mapper", "t"));
    assert_false(config_may_subscribe(cfg, "other", "t"));
    assert_false(config_may_publish(cfg, "mapper", "t"));
    config_destroy(&cfg);

    /* Key files: comments and blank lines first, spaces and CRLF around the
     * key; public_key_file is relative to the config's folder. */
    free(s_write("keys/b.pub", "  \n# public key of b\n" KEY_B "  \n"));
    free(s_write("crlf.key", "# comment\r\n\r\n\t" SECRET2 "\r\n"));
    cfg = LOAD_OK("security:\n  server_secret_key_file: crlf.key\n  clients:\n"
                  "    - { name: b, public_key_file: keys/b.pub }\n"
                  "    - { name: a, public_key: \"" KEY_A "\" }\n");
    assert_string_equal(cfg->server_secret_key, SECRET2);
    assert_string_equal(config_client_by_key(cfg, KEY_B), "b");
    assert_string_equal(config_client_by_key(cfg, KEY_A), "a");
    assert_null(config_client_by_key(cfg, KEY_C));
    assert_null(config_client_by_key(cfg, NULL));
    assert_int_equal(cfg->clients[1].line, 5);
    config_destroy(&cfg);

    /* curve with no clients at all (nobody can connect, but valid) */
    cfg = LOAD_OK(CURVE);
    assert_int_equal(cfg->n_clients, 0);
    config_destroy(&cfg);
#undef CURVE
}

static void test_errors_yaml(void **state)
{
    char *want;
    assert_true(asprintf(&want, "%s/nope.yaml: cannot open: No such file or directory", s_dir) > 0);
    char *path, *err = NULL;
    assert_true(asprintf(&path, "%s/nope.yaml", s_dir) > 0);
    assert_null(config_load(path, &err));
    assert_string_equal(err, want);
    free(err);
    free(path);
    free(want);
    err = NULL;
    assert_null(config_load(s_dir, &err));  /* a folder */
    assert_non_null(err);
    free(err);
    err = NULL;
    assert_null(config_load(NULL, &err));
    assert_non_null(err);
    free(err);
    assert_null(config_load(NULL, NULL));
    assert_null(config_load("/nonexistent/lgspd.yaml", NULL));  /* no leak without err */
    path = s_write("bad.yaml", "colour: blue\n");
    assert_null(config_load(path, NULL));
    free(path);

    EXPECT_ERR("", ":1: the file is empty: expected settings such as 'security:' (see the "
               "commented reference lgspd.yaml)");
    EXPECT_ERR("# only comments\n\n", ":1: the file is empty: expected settings such as "
               "'security:' (see the commented reference lgspd.yaml)");
    EXPECT_ERR("---\n", ":1: the file is empty: expected settings such as 'security:' (see the "
               "commented reference lgspd.yaml)");
    EXPECT_ERR("- a\n- b\n", ":1: expected a map of settings at the top level, found a list");
    EXPECT_ERR("just text\n", ":1: expected a map of settings at the top level, found a single value");
    EXPECT_ERR(PLAIN "bus: { heartbeat_ms: 5\n",
               ":3: YAML syntax error: did not find expected ',' or '}' (while parsing a flow "
               "mapping at line 2)");
    EXPECT_ERR(PLAIN "bus:\n\theartbeat_ms: 5\n",
               ":3: YAML syntax error: a tab; YAML is indented with spaces only");
    EXPECT_ERR(PLAIN "bus:\n  heartbeat_ms: 5\n pub_window: 3\n",
               ":4: YAML syntax error: did not find expected key (while parsing a block mapping "
               "at line 1)");
    EXPECT_ERR(PLAIN "log_level: \"info\n",
               ":3: YAML syntax error: found unexpected end of stream (while scanning a quoted "
               "scalar at line 2)");
    EXPECT_ERR(PLAIN "bus: { heartbeat_ms: &hb 500, pub_window: *hb }\n",
               ":2: YAML aliases (*hb) are not supported: write the value out");
    EXPECT_ERR(PLAIN "bus: { heartbeat_ms: 500 }\nlog_level: info\nbus: { pub_window: 3 }\n",
               ":4: 'bus' is given twice in the same map (first at line 2)");
    EXPECT_ERR(PLAIN "bus:\n  pub_window: 1\n  heartbeat_ms: 500\n  pub_window: 2\n",
               ":5: 'pub_window' is given twice in the same map (first at line 3)");
    EXPECT_ERR(PLAIN "---\nlog_level: info\n",
               ":2: a second YAML document ('---'): the file must hold one");
    EXPECT_ERR(PLAIN "? [a, b]\n: 1\n", ":2: a key must be a plain name, not a list");
    EXPECT_ERR(PLAIN "log_level: \"in\\0fo\"\n", ":2: a value holds a NUL byte");
    s_expect_err_n(PLAIN "log_level: in\0fo\n", sizeof(PLAIN "log_level: in\0fo\n") - 1,
                   ":2: YAML syntax error: control characters are not allowed", __LINE__);
    /* Anchors alone are harmless and ignored; tags too. */
    config_t *cfg = LOAD_OK(PLAIN "bus: &b { heartbeat_ms: !!str 500 }\n");
    assert_int_equal(cfg->heartbeat_ms, 500);
    config_destroy(&cfg);

    /* Deep nesting: refused at the limit, however deep. */
    for (size_t depth = 70; depth <= 100000; depth *= 40) {
        size_t n = 2 * depth + 64;
        char *text = malloc(n);
        assert_non_null(text);
        size_t len = (size_t) snprintf(text, n, PLAIN "bus: ");
        memset(text + len, '[', depth);
        len += depth;
        memset(text + len, ']', depth);
        len += depth;
        text[len++] = '\n';
        s_expect_err_n(text, len, ":2: nested deeper than 64 levels", __LINE__);
        free(text);
    }
}

/* ---- topic policies, access ---------------------------------------------------- */

static void test_policies(void **state)
{
    /* rules before defaults in the file: rules still inherit the defaults */
    config_t *cfg = LOAD_OK(PLAIN
        "topics:\n"
        "  rules:\n"
        "    - { pattern: \"raw.*\", publish: [qn, dn], subscribe: [mapper] }\n"
        "    - { pattern: \"a*b*c\", retention: { max_age: 1h } }\n"
        "    - { pattern: exact, max_attempts: 9, visibility_timeout: 500ms }\n"
        "    - { pattern: \"raw.special\", max_attempts: 2 }\n"
        "    - { pattern: \"*.dlq\", subscribe: [ops] }\n"
        "  defaults:\n"
        "    max_attempts: 7\n"
        "    max_lag: 0\n"
        "    retention: { max_bytes: 0, protect_unacked: false }\n"
        "    publish: [\"*\"]\n"
        "    subscribe: [\"*\"]\n");
    assert_int_equal(cfg->n_topics, 5);
    assert_int_equal(cfg->topic_defaults.line, 9);
    assert_int_equal(cfg->topics[0].line, 4);
    assert_int_equal(cfg->topics[4].line, 8);

    const topic_policy_t *p = config_topic_policy(cfg, "raw.hokhau");
    assert_ptr_equal(p, &cfg->topics[0]);
    assert_string_equal(p->pattern, "raw.*");
    assert_int_equal(p->max_attempts, 7);      /* from the defaults */
    assert_int_equal(p->max_lag, 0);
    assert_false(p->retention_protect_unacked);
    assert_int_equal(p->retention_max_bytes, 0);
    assert_int_equal(p->retention_max_age_ms, UINT64_C(7) * 86400000);
    assert_ptr_equal(config_topic_policy(cfg, "raw."), &cfg->topics[0]);
    assert_ptr_equal(config_topic_policy(cfg, "raw.x.y"), &cfg->topics[0]);
    assert_ptr_equal(config_topic_policy(cfg, "raw"), &cfg->topic_defaults);
    assert_ptr_equal(config_topic_policy(cfg, "rawx"), &cfg->topic_defaults);
    /* first match wins: raw.special is shadowed by raw.* */
    assert_ptr_equal(config_topic_policy(cfg, "raw.special"), &cfg->topics[0]);
    /* the dead-letter topic of raw.x is raw.x.dlq: still raw.* */
    assert_ptr_equal(config_topic_policy(cfg, "raw.x.dlq"), &cfg->topics[0]);
    assert_ptr_equal(config_topic_policy(cfg, "other.dlq"), &cfg->topics[4]);

    p = config_topic_policy(cfg, "abc");
    assert_ptr_equal(p, &cfg->topics[1]);
    assert_int_equal(p->retention_max_age_ms, 3600000);
    assert_false(p->retention_protect_unacked);  /* the rest of retention from defaults */
    assert_ptr_equal(config_topic_policy(cfg, "aXXbYYc"), &cfg->topics[1]);
    assert_ptr_equal(config_topic_policy(cfg, "abcbc"), &cfg->topics[1]);
    assert_ptr_equal(config_topic_policy(cfg, "a.b.c.c"), &cfg->topics[1]);
    assert_ptr_equal(config_topic_policy(cfg, "abcd"), &cfg->topic_defaults);
    assert_ptr_equal(config_topic_policy(cfg, "bc"), &cfg->topic_defaults);

    p = config_topic_policy(cfg, "exact");
    assert_ptr_equal(p, &cfg->topics[2]);
    assert_int_equal(p->max_attempts, 9);
    assert_int_equal(p->visibility_timeout_ms, 500);
    assert_ptr_equal(config_topic_policy(cfg, "exactly"), &cfg->topic_defaults);
    assert_ptr_equal(config_topic_policy(cfg, "xexact"), &cfg->topic_defaults);
    assert_ptr_equal(config_topic_policy(cfg, ""), &cfg->topic_defaults);
    assert_ptr_equal(config_topic_policy(cfg, NULL), &cfg->topic_defaults);
    assert_string_equal(cfg->topic_defaults.pattern, "*");

    /* access lists */
    assert_true(config_may_publish(cfg, "qn", "raw.a"));
    assert_true(config_may_publish(cfg, "dn", "raw.a"));
    assert_false(config_may_publish(cfg, "mapper", "raw.a"));
    assert_false(config_may_publish(cfg, "q", "raw.a"));     /* no prefix matching */
    assert_false(config_may_publish(cfg, "qnx", "raw.a"));
    assert_false(config_may_publish(cfg, NULL, "raw.a"));
    assert_true(config_may_subscribe(cfg, "mapper", "raw.a"));
    assert_false(config_may_subscribe(cfg, "qn", "raw.a"));
    assert_true(config_may_publish(cfg, "anyone", "exact"));  /* "*" from the defaults */
    assert_true(config_may_publish(cfg, NULL, "exact"));
    assert_true(config_may_subscribe(cfg, "ops", "x.dlq"));
    assert_false(config_may_subscribe(cfg, "qn", "x.dlq"));
    config_destroy(&cfg);

    /* Pathological globs stay fast (no exponential backtracking). */
    cfg = LOAD_OK(PLAIN "topics:\n  rules:\n    - { pattern: \"*a*a*a*a*a*a*a*a*a*a*a*b\" }\n");
    char topic[201];
    memset(topic, 'a', 200);
    topic[200] = '\0';
    assert_ptr_equal(config_topic_policy(cfg, topic), &cfg->topic_defaults);
    topic[199] = 'b';
    assert_ptr_equal(config_topic_policy(cfg, topic), &cfg->topics[0]);
    config_destroy(&cfg);
}

static void test_admins(void **state)
{
    config_t *cfg = LOAD_OK("security: { mode: plain, admins: ops }\n");
    assert_true(config_is_admin(cfg, "ops"));
    assert_false(config_is_admin(cfg, "op"));
    assert_false(config_is_admin(cfg, NULL));
    config_destroy(&cfg);
    cfg = LOAD_OK("security: { mode: plain, admins: [a, \"*\"] }\n");
    assert_true(config_is_admin(cfg, "zzz"));
    config_destroy(&cfg);
    cfg = LOAD_OK("security: { mode: plain, admins: [] }\n");
    assert_false(config_is_admin(cfg, "a"));
    config_destroy(&cfg);
}

/* ---- reload ---------------------------------------------------------------------- */

static config_t *s_load_as(const char *name, const char *text)
{
    char *path = s_write(name, text), *err = NULL;
    config_t *cfg = config_load(path, &err);
    if (!cfg)
        fail_msg("%s: %s", name, err);
    free(path);
    return cfg;
}

static void test_reload_check(void **state)
{
    free(s_write("server.key", SECRET "\n"));
    const char *base =
        "log_level: info\n"
        "bus: { endpoint: \"tcp://127.0.0.1:7600\", heartbeat_ms: 1000, pub_window: 100 }\n"
        "http: { listen: \"127.0.0.1:7601\" }\n"
        "journal: { path: j, map_size: 1GiB, retention_interval: 1s }\n"
        "security:\n"
        "  server_secret_key_file: server.key\n"
        "  clients: [ { name: a, public_key: \"" KEY_A "\" } ]\n"
        "  admins: [a]\n"
        "topics:\n"
        "  defaults: { max_attempts: 5 }\n"
        "  rules: [ { pattern: \"x.*\", publish: [a] } ]\n";
    config_t *running = s_load_as("a.yaml", base);
    config_t *same = s_load_as("b.yaml", base);
    assert_null(config_reload_check(running, same));
    config_destroy(&same);

    /* Everything reloadable changed at once: still nothing to restart for. */
    config_t *fresh = s_load_as("b.yaml",
        "log_level: debug\n"
        "bus: { endpoint: \"tcp://127.0.0.1:7600\", heartbeat_ms: 250, pub_window: 7,\n"
        "       max_message_bytes: 2MiB, max_held_bytes: 1GiB }\n"
        "http: { listen: \"127.0.0.1:7601\" }\n"
        "journal: { path: j, map_size: 1GiB, retention_interval: 5s }\n"
        "security:\n"
        "  server_secret_key_file: server.key\n"
        "  clients: [ { name: b, public_key: \"" KEY_B "\" } ]\n"
        "  admins: [b]\n"
        "topics:\n"
        "  defaults: { max_attempts: 3, retention: { max_age: 1d } }\n"
        "  rules: [ { pattern: \"y.*\", publish: [b] } ]\n");
    assert_null(config_reload_check(running, fresh));
    config_destroy(&fresh);

    /* Settings that need a restart are named, in table order. */
    free(s_write("server2.key", SECRET2 "\n"));
    fresh = s_load_as("b.yaml",
        "log_level: info\n"
        "bus: { endpoint: \"tcp://127.0.0.1:7700\", heartbeat_ms: 1000, pub_window: 100 }\n"
        "http: { listen: \"127.0.0.1:7701\" }\n"
        "journal: { path: j2, map_size: 2GiB, max_topics: 10, commit_max_messages: 1,\n"
        "           commit_max_bytes: 1KiB }\n"
        "security:\n"
        "  server_secret_key_file: server2.key\n"
        "  clients: [ { name: a, public_key: \"" KEY_A "\" } ]\n"
        "  admins: [a]\n");
    char *why = config_reload_check(running, fresh);
    assert_non_null(why);
    assert_string_equal(why, "bus.endpoint, http.listen, journal.path, journal.map_size, "
                        "journal.max_topics, journal.commit_max_messages, journal.commit_max_bytes, "
                        "security.server_secret_key_file");
    free(why);
    config_destroy(&fresh);

    /* The same key file path with a new key in it needs a restart too. */
    free(s_write("server.key", SECRET2 "\n"));
    fresh = s_load_as("b.yaml", base);
    why = config_reload_check(running, fresh);
    assert_non_null(why);
    assert_string_equal(why, "security.server_secret_key_file");
    free(why);
    config_destroy(&fresh);

    fresh = s_load_as("b.yaml", PLAIN "journal: { path: j, map_size: 1GiB }\n");
    why = config_reload_check(running, fresh);
    assert_non_null(why);
    assert_string_equal(why, "security.mode, security.server_secret_key_file");
    free(why);
    config_destroy(&fresh);
    config_destroy(&running);
}

/* ---- sizes and durations ---------------------------------------------------- */

static void test_parse_size(void **state)
{
    static const struct { const char *text; uint64_t want; } ok[] = {
        { "0", 0 }, { "512", 512 }, { "512B", 512 }, { "1KiB", 1024 }, { "64MiB", 64ull << 20 },
        { "1GiB", 1ull << 30 }, { "16GiB", 16ull << 30 }, { "2TiB", 2ull << 40 },
        { "1 MiB", 1 << 20 }, { "1mib", 1 << 20 }, { "3PiB", 3ull << 50 },
        { "18446744073709551615", UINT64_MAX }, { "16383PiB", 16383ull << 50 },
        { "17179869183GiB", 17179869183ull << 30 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_size(ok[i].text, &v) != 0)
            fail_msg("'%s' refused", ok[i].text);
        assert_int_equal(v, ok[i].want);
    }
    static const char *const bad[] = {
        "", " ", "MiB", "-1", "+1", "1.5GiB", "1GB", "1KB", "1k", "1 M", "1KiBx", "1 KiB B",
        "0x10", "18446744073709551616", "16384PiB", "17179869184GiB", "99999999999999999999999",
        "1e9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_size(bad[i], &v) == 0)
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long) v);
        assert_int_equal(v, 12345);  /* untouched on failure */
    }
    uint64_t v;
    assert_int_equal(config_parse_size(NULL, &v), -1);
    assert_int_equal(config_parse_size("1", NULL), -1);
}

static void test_parse_duration(void **state)
{
    static const struct { const char *text; uint64_t want; } ok[] = {
        { "0", 0 }, { "0s", 0 }, { "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 },
        { "5min", 300000 }, { "2h", 7200000 }, { "7d", 604800000 }, { "1h30m", 5400000 },
        { "1d 2h", 93600000 }, { "30 s", 30000 }, { "1s500ms", 1500 },
        { "18446744073709551615ms", UINT64_MAX }, { "213503982334d", 213503982334ull * 86400000 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_duration(ok[i].text, &v) != 0)
            fail_msg("'%s' refused", ok[i].text);
        assert_int_equal(v, ok[i].want);
    }
    static const char *const bad[] = {
        "", "  ", "30", "s", "-5s", "1.5s", "30S", "30sec", "7 days", "1w", "ms30", "30s x",
        "18446744073709551616ms", "213503982335d", "99999999999999999999999s",
        "18446744073709551615ms1ms", "00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_duration(bad[i], &v) == 0)
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long) v);
        assert_int_equal(v, 12345);
    }
    uint64_t v;
    assert_int_equal(config_parse_duration(NULL, &v), -1);
    assert_int_equal(config_parse_duration("1s", NULL), -1);
}

/* ---- robustness -------------------------------------------------------------------- */

/* Every prefix of the reference config, and random mutations of it, load
 * or fail with a message naming the file; none may crash (the sanitizer
 * build checks memory). */
static void test_no_crash(void **state)
{
    size_t len;
    char *ref = s_read_file(CONFIG_SRC_DIR "/lgspd.yaml", &len);
    free(s_write("keys/lgspd.key", SECRET "\n"));
    char *path, *err;
    assert_true(asprintf(&path, "%s/lgspd.yaml", s_dir) > 0);
    size_t loaded = 0, refused = 0;
    for (size_t cut = 0; cut <= len; cut += 7) {
        free(s_write_n("lgspd.yaml", ref, cut));
        err = NULL;
        config_t *cfg = config_load(path, &err);
        if (cfg) {
            loaded++;
            assert_null(err);
        } else {
            refused++;
            assert_non_null(err);
            assert_memory_equal(err, path, strlen(path));
        }
        config_destroy(&cfg);
        free(err);
    }
    assert_true(loaded > 0 && refused > 0);

    static const char junk[] = "\0\t\n\r :-[]{}&*!|>'\"%@`#,?~\xff\xfe\xc3\xa9" "0123456789abcz";
    unsigned seed = 12345;
    char *buf = malloc(len + 64);
    assert_non_null(buf);
    for (int round = 0; round < 600; round++) {
        memcpy(buf, ref, len);
        size_t n = len;
        int edits = 1 + (int) (rand_r(&seed) % 8);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t) rand_r(&seed) % n;
            switch (rand_r(&seed) % 3) {
            case 0: buf[at] = junk[(size_t) rand_r(&seed) % (sizeof junk - 1)]; break;
            case 1: n = at + 1; break;
            default: buf[at] = (char) (rand_r(&seed) & 0xff); break;
            }
        }
        free(s_write_n("lgspd.yaml", buf, n));
        err = NULL;
        config_t *cfg = config_load(path, &err);
        if (!cfg) {
            assert_non_null(err);
            assert_memory_equal(err, path, strlen(path));
        }
        config_destroy(&cfg);
        free(err);
    }
    /* pure noise */
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t) rand_r(&seed) % 64;
        for (size_t i = 0; i < n; i++)
            buf[i] = junk[(size_t) rand_r(&seed) % (sizeof junk - 1)];
        free(s_write_n("lgspd.yaml", buf, n));
        err = NULL;
        config_t *cfg = config_load(path, &err);
        assert_true((cfg == NULL) == (err != NULL));
        config_destroy(&cfg);
        free(err);
    }
    free(buf);
    free(path);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reference_config, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dev_config, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_settings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_topics, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_security, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_yaml, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_policies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_admins, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_check, s_setup, s_teardown),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test_setup_teardown(test_no_crash, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
