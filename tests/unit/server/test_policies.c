/* test_policies.c - unit tests of server/policies.c, hash.c and the certificate table (tls.c). */
#include "server/server_int.h"
#include "common/common.h"
#include "common/config.h"
#include "hosted/hosted.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cmocka.h>

#include "tests/unit/unit_test.h"

static void test_crlf(void **state)
{
    size_t n;
    char *s = srv__crlf("a\nb\r\nc\n", 7, &n);
    assert_int_equal(n, 9);
    assert_memory_equal(s, "a\r\nb\r\nc\r\n", 9);
    free(s);
    s = srv__crlf("\n\n", 2, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "\r\n\r\n", 4);
    free(s);
    s = srv__crlf("x", 1, &n); /* no final newline: kept as is */
    assert_int_equal(n, 1);
    free(s);
    s = srv__crlf("a\rb", 3, &n); /* a lone CR is not a line ending we rewrite */
    assert_int_equal(n, 3);
    free(s);
    s = srv__crlf("", 0, &n);
    assert_int_equal(n, 0);
    free(s);
}

static int host(const char *in, char *out)
{
    return srv__policy_host(in, strlen(in), out, 256);
}

static void test_policy_host(void **state)
{
    char out[256];
    assert_int_equal(host("mta-sts.example.com", out), 11);
    assert_string_equal(out, "example.com");
    assert_int_equal(host("MTA-STS.Example.COM", out), 11);
    assert_string_equal(out, "example.com");
    assert_int_equal(host("mta-sts.example.com.", out), 11);
    assert_string_equal(out, "example.com");
    assert_int_equal(host("mta-sts.example.com:443", out), 11);
    assert_int_equal(host("mta-sts.example.com.:8443", out), 11);
    assert_string_equal(out, "example.com");
    assert_int_equal(host("example.com", out), -1);
    assert_int_equal(host("mta-sts.", out), -1);
    assert_int_equal(host("mta-sts", out), -1);
    assert_int_equal(host("", out), -1);
    assert_int_equal(host("[::1]:443", out), -1);
    assert_int_equal(host("www.mta-sts.example.com", out), -1);
    assert_int_equal(host("mta-sts.exa mple.com", out), -1);
    assert_int_equal(host("mta-sts.exa/mple.com", out), -1);
    assert_int_equal(host("mta-sts.example.com..", out), -1); /* one trailing dot only */
    assert_int_equal(host("mta-sts.com", out), -1);           /* a single label */
    assert_int_equal(host("mta-sts.192.0.2.1", out), -1);     /* an address */
    char big[300];
    memset(big, 'a', sizeof(big));
    memcpy(big, "mta-sts.", 8);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(host(big, out), -1); /* longer than the output buffer */
}

static const char *strs_key(const void *ctx, uint32_t i)
{
    return ((const char *const *)ctx)[i];
}

static void test_hash(void **state)
{
    enum { N = 5000 };
    char **keys = xcalloc(N, sizeof(*keys));
    struct srv_hash h;
    srv__hash_init(&h, N);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = xasprintf("d%u.example", i);
        assert_int_equal(srv__hash_put(&h, keys[i], i, strs_key, keys), 1);
    }
    assert_int_equal(srv__hash_put(&h, "d7.example", 99, strs_key, keys), 0); /* present */
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(srv__hash_get(&h, keys[i], strlen(keys[i]), strs_key, keys), i);
    assert_int_equal(srv__hash_get(&h, "d7.exampl", 9, strs_key, keys), -1);
    assert_int_equal(srv__hash_get(&h, "d7.example.", 11, strs_key, keys), -1);
    assert_int_equal(srv__hash_get(&h, "nope", 4, strs_key, keys), -1);
    /* a length shorter than the string: only the prefix is the key */
    assert_int_equal(srv__hash_get(&h, "d7.examplexyz", 10, strs_key, keys), 7);
    srv__hash_free(&h);
    for (uint32_t i = 0; i < N; i++)
        free(keys[i]);
    free(keys);
}

static char *tmpdir_new(void)
{
    char *d = xstrdup("/tmp/stsd-unit-server-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d)
{
    char *cmd = xasprintf("rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void put(const char *dir, const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    assert_int_equal(file_write_atomic(p, text, strlen(text), 0644), 0);
    free(p);
}

static const char *lookup(const struct srv_policy_table *t, const char *d)
{
    const struct srv_policy *p = srv_policy_lookup(t, d, strlen(d));
    return p ? p->body : NULL;
}

/* A files-only handle on the state directory `root` (its policies/ created). */
static struct hosted *hosted_at(struct stsd_config *cfg, const char *root, unsigned flags)
{
    config_defaults(cfg);
    free(cfg->state_dir);
    cfg->state_dir = xstrdup(root);
    char err[256];
    struct hosted *h = hosted_open(cfg, flags | HOSTED_NO_DB, err, sizeof(err));
    assert_non_null(h);
    return h;
}

static void test_policy_table(void **state)
{
    char *root = tmpdir_new();
    struct stsd_config cfg, cfg_gone;
    struct hosted *h = hosted_at(&cfg, root, HOSTED_CREATE);
    struct hosted *gone = hosted_at(&cfg_gone, "/nonexistent/stsd", 0);
    char *dir = xstrdup(hosted_policy_dir(h));
    put(dir, "a.test.txt", "version: STSv1\nmode: testing\nmx: mx.a.test\nmax_age: 86400\n");
    put(dir, "b.test.txt", "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n");
    put(dir, "broken.test.txt", "version: STSv1\nmode: Enforce\nmx: mx.a.test\nmax_age: 1\n");
    put(dir, "not_a_domain.txt", "version: STSv1\nmode: none\nmax_age: 86400\n");
    log_set_level(LOG_ERROR); /* the policy.invalid lines are expected */

    struct srv_policy_table *t1 = srv__policies_build(h, NULL);
    assert_int_equal(t1->n, 2);
    assert_int_equal(t1->n_invalid, 1);
    assert_int_equal(t1->invalid[0].line, 2);
    assert_non_null(strstr(t1->invalid[0].file, "broken.test.txt"));
    assert_string_equal(t1->invalid[0].domain, "broken.test");
    assert_int_equal(srv_policy_lookup(t1, "a.test", 6)->mode, POLICY_MODE_TESTING);
    assert_int_equal(srv_policy_lookup(t1, "b.test", 6)->mode, POLICY_MODE_NONE);
    assert_string_equal(lookup(t1, "a.test"),
                        "version: STSv1\r\nmode: testing\r\nmx: mx.a.test\r\nmax_age: 86400\r\n");
    assert_string_equal(lookup(t1, "b.test"), "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n");
    assert_null(lookup(t1, "broken.test"));
    assert_null(lookup(t1, "not_a_domain"));
    assert_null(lookup(t1, "c.test"));
    assert_string_equal(t1->items[0].domain, "a.test"); /* sorted */

    /* a.test breaks: its last good version stays (stale); b.test goes away; c.test arrives */
    put(dir, "a.test.txt", "version: STSv2\nmode: testing\nmx: mx.a.test\nmax_age: 86400\n");
    char *b = xasprintf("%s/b.test.txt", dir);
    unlink(b);
    free(b);
    put(dir, "c.test.txt", "version: STSv1\nmode: none\nmax_age: 60\n");
    struct srv_policy_table *t2 = srv__policies_build(h, t1);
    const struct srv_policy *a = srv_policy_lookup(t2, "a.test", 6);
    assert_non_null(a);
    assert_int_equal(a->stale, 1);
    assert_int_equal(a->mode, POLICY_MODE_TESTING); /* the mode of the version served */
    assert_string_equal(a->body,
                        "version: STSv1\r\nmode: testing\r\nmx: mx.a.test\r\nmax_age: 86400\r\n");
    assert_null(lookup(t2, "b.test"));
    assert_string_equal(lookup(t2, "c.test"), "version: STSv1\r\nmode: none\r\nmax_age: 60\r\n");
    assert_int_equal(t2->n_invalid, 2);
    srv__policies_free(t1);

    /* the stale version survives a further reload while the file stays broken */
    struct srv_policy_table *t3 = srv__policies_build(h, t2);
    assert_non_null(lookup(t3, "a.test"));
    /* an unreadable directory on reload: NULL, the caller keeps serving t3 */
    assert_null(srv__policies_build(gone, t3));
    srv__policies_free(t2);
    srv__policies_free(t3);
    srv__policies_free(NULL);

    /* a missing directory gives an empty table, not a crash */
    struct srv_policy_table *t4 = srv__policies_build(gone, NULL);
    assert_int_equal(t4->n, 0);
    assert_null(lookup(t4, "a.test"));
    srv__policies_free(t4);
    hosted_close(h);
    hosted_close(gone);
    config_free(&cfg);
    config_free(&cfg_gone);
    rm_rf(root);
    free(root);
    free(dir);
}

/* Write a self-signed P-256 certificate for cn (with the given DNS SANs) as <file>. */
static void make_cert(const char *dir, const char *file, const char *cn, const char *sans,
                      int key_mode)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    if (sans != NULL) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, sans);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    char *p = xasprintf("%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(p, (mode_t)key_mode);
    free(p);
    X509_free(x);
    EVP_PKEY_free(k);
}

static const char *cn_of(const struct srv_cert *c)
{
    static char buf[256];
    if (c == NULL)
        return "(none)";
    const struct srv_cert_obj *o = srv__cert_obj(c);
    if (o == NULL)
        return "(undecodable)";
    X509_NAME_get_text_by_NID(X509_get_subject_name(o->x509), NID_commonName, buf, sizeof(buf));
    return buf;
}

static void test_cert_table(void **state)
{
    char *dir = tmpdir_new();
    make_cert(dir, "mta-sts.a.test.pem", "A", "DNS:mta-sts.a.test", 0600);
    make_cert(dir, "mta-sts.b.test.pem", "B", "DNS:mta-sts.b.test,DNS:*.wild.test", 0600);
    /* a multi-name certificate under another file name: its SANs are indexed */
    make_cert(dir, "mta-sts.multi.test.pem", "M", "DNS:mta-sts.x.test,DNS:MTA-STS.Y.TEST", 0600);
    /* the file name wins over another certificate's SAN */
    make_cert(dir, "mta-sts.x.test.pem", "X", "DNS:mta-sts.x.test", 0600);
    put(dir, "mta-sts.broken.test.pem", "-----BEGIN CERTIFICATE-----\nxx\n");
    /* the certificate of A with the key of B: loads, but its key is refused on first use */
    {
        char *pa = xasprintf("%s/mta-sts.a.test.pem", dir),
             *pb = xasprintf("%s/mta-sts.b.test.pem", dir);
        size_t la, lb;
        char *a = file_read_all(pa, 1 << 20, &la), *b = file_read_all(pb, 1 << 20, &lb);
        char *ka = strstr(a, "-----BEGIN PRIVATE KEY"), *kb = strstr(b, "-----BEGIN PRIVATE KEY");
        assert_non_null(ka);
        assert_non_null(kb);
        *ka = '\0';
        char *mix = xasprintf("%s%s", a, kb);
        put(dir, "mta-sts.mismatch.test.pem", mix);
        free(mix);
        free(a);
        free(b);
        free(pa);
        free(pb);
    }
    put(dir, "not a host.pem", "x");
    log_set_level((enum log_level)(LOG_ERROR + 1)); /* cert.invalid is expected */

    /* First build: file names only (nothing decoded yet, so no SANs indexed) */
    struct srv_cert_table *t0 = srv__certs_build(dir, NULL);
    assert_int_equal(t0->n, 5);
    assert_int_equal(t0->n_undecoded, 5);
    assert_null(srv__cert_find(t0, "mta-sts.y.test"));
    assert_null(srv__cert_obj(srv__cert_find(t0, "mta-sts.mismatch.test")));
    assert_null(srv__cert_obj(srv__cert_find(t0, "mta-sts.mismatch.test"))); /* stays refused */
    assert_string_equal(cn_of(srv__cert_find(t0, "mta-sts.mismatch.test")), "(undecodable)");
    size_t cursor = 0;
    while (srv__certs_warm(t0, &cursor, 2))
        ;
    assert_int_equal(cursor, 5);
    assert_non_null(atomic_load(&srv__cert_find(t0, "mta-sts.x.test")->obj));
    /* the rebuild after the warm-up shares the decoded objects and indexes the SANs */
    struct srv_cert_table *t = srv__certs_build(dir, t0);
    assert_int_equal(t->n, 5);
    assert_int_equal(t->n_undecoded, 0); /* the mismatched one failed: not waited for */
    assert_int_equal(t->default_cert, -1);
    assert_ptr_equal(srv__cert_obj(srv__cert_find(t, "mta-sts.a.test"))->x509,
                     srv__cert_obj(srv__cert_find(t0, "mta-sts.a.test"))->x509);
    srv__certs_free(t0);
    assert_string_equal(cn_of(srv__cert_find(t, "mta-sts.a.test")), "A");
    assert_string_equal(cn_of(srv__cert_find(t, "MTA-STS.A.TEST.")), "A");
    assert_string_equal(cn_of(srv__cert_find(t, "mta-sts.b.test")), "B");
    assert_string_equal(cn_of(srv__cert_find(t, "mta-sts.x.test")), "X");
    assert_string_equal(cn_of(srv__cert_find(t, "mta-sts.y.test")), "M");
    assert_string_equal(cn_of(srv__cert_find(t, "one.wild.test")), "B");
    assert_null(srv__cert_find(t, "two.one.wild.test")); /* one label only */
    assert_null(srv__cert_find(t, "wild.test"));
    assert_null(srv__cert_find(t, "mta-sts.broken.test"));
    assert_null(srv__cert_find(t, "unknown.test"));
    assert_null(srv__cert_find(t, NULL));
    assert_null(srv__cert_find(t, ""));

    /* default.pem answers unknown names and no SNI; an unchanged file is reused on reload */
    make_cert(dir, "default.pem", "D", NULL, 0600);
    struct srv_cert_table *t2 = srv__certs_build(dir, t);
    assert_int_equal(t2->n, 6);
    assert_string_equal(cn_of(srv__cert_find(t2, "unknown.test")), "D");
    assert_string_equal(cn_of(srv__cert_find(t2, NULL)), "D");
    assert_ptr_equal(srv__cert_obj(srv__cert_find(t2, "mta-sts.a.test"))->x509,
                     srv__cert_obj(srv__cert_find(t, "mta-sts.a.test"))->x509);

    /* a certificate that breaks keeps its last good version */
    put(dir, "mta-sts.a.test.pem", "garbage");
    struct srv_cert_table *t3 = srv__certs_build(dir, t2);
    assert_null(srv__certs_build("/nonexistent/stsd", t3));
    assert_string_equal(cn_of(srv__cert_find(t3, "mta-sts.a.test")), "A");
    srv__certs_free(t);
    srv__certs_free(t2);
    srv__certs_free(t3);
    srv__certs_free(NULL);
    rm_rf(dir);
    free(dir);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_crlf), cmocka_unit_test(test_policy_host),
           cmocka_unit_test(test_hash), cmocka_unit_test(test_policy_table),
           cmocka_unit_test(test_cert_table))
