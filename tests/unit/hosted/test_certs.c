/* test_certs.c - certificate facts from cert_dir, the cache by size/mtime, hosted_cert_for. */
#include "hosted_test.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A self-signed P-256 certificate by the openssl command: <cert_dir>/<name>.pem (chain and
 * key) or, with split, <name>.crt + <name>.key. */
static void make_cert(const struct fixture *fx, const char *name, const char *cn, const char *san,
                      int days, int split)
{
    const char *d = hosted_cert_dir(fx->h);
    char *cmd;
    if (split)
        cmd = xasprintf("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                        "ec_paramgen_curve:P-256 -nodes -subj '/O=Test CA/CN=%s' -addext "
                        "'subjectAltName=%s' -days %d -keyout '%s.key' -out '%s.crt' 2>/dev/null",
                        d, cn, san, days, name, name);
    else
        cmd = xasprintf("cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                        "ec_paramgen_curve:P-256 -nodes -subj '/O=Test CA/CN=%s' -addext "
                        "'subjectAltName=%s' -days %d -keyout k.tmp -out c.tmp 2>/dev/null && "
                        "cat c.tmp k.tmp > '%s.pem.new' && mv '%s.pem.new' '%s.pem' && "
                        "rm -f k.tmp c.tmp",
                        d, cn, san, days, name, name, name);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void test_certs(void **state)
{
    struct fixture *fx = fixture_new(HOSTED_CREATE);
    const struct hosted_cert *v;
    size_t n;
    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    assert_int_equal(n, 0);

    make_cert(fx, "mta-sts.a.test", "A", "DNS:mta-sts.a.test", 30, 0);
    make_cert(fx, "mta-sts.b.test", "B", "DNS:mta-sts.b.test", 10, 1);
    make_cert(fx, "multi", "M", "DNS:mta-sts.c.test,DNS:*.wild.test", 30, 0); /* not a host */
    make_cert(fx, "other.test", "O", "DNS:other.test,DNS:mta-sts.c.test", 30, 0);
    put_file(fx, "certs/broken.test.pem", "not a certificate\n", 18);
    put_file(fx, "certs/notes.txt", "x", 1);
    int64_t now = (int64_t)time(NULL);

    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "mta-sts.a.test");
    assert_string_equal(v[1].name, "mta-sts.b.test");
    assert_string_equal(v[2].name, "other.test");
    char *f = xasprintf("%s/mta-sts.a.test.pem", hosted_cert_dir(fx->h));
    assert_string_equal(v[0].file, f);
    assert_string_equal(v[0].key_file, f);
    free(f);
    f = xasprintf("%s/mta-sts.b.test.key", hosted_cert_dir(fx->h));
    assert_string_equal(v[1].key_file, f);
    free(f);
    assert_string_equal(v[0].issuer, "CN=A, O=Test CA");
    assert_string_equal(v[0].source, "file");
    assert_true(v[0].not_before <= now && v[0].not_before > now - 600);
    assert_true(v[0].not_after - v[0].not_before == 30 * 86400);
    assert_true(v[1].not_after - v[1].not_before == 10 * 86400);
    assert_non_null(v[0].x509);

    /* The files alone: every <host>.pem/.crt name (also one that holds no certificate); the
     * name that is not a host name is skipped. */
    struct hosted_cert *files;
    char **skipped;
    size_t nf, ns;
    assert_int_equal(hosted_cert_files(hosted_cert_dir(fx->h), &files, &nf, &skipped, &ns), 0);
    assert_int_equal(nf, 4);
    assert_string_equal(files[0].name, "broken.test");
    assert_null(files[0].x509);
    assert_string_equal(files[3].name, "other.test");
    assert_int_equal(ns, 1);
    assert_string_equal(skipped[0], "multi.pem");
    free(skipped[0]);
    free(skipped);
    hosted_cert_files_free(files, nf);

    assert_int_equal(hosted_cert_for(fx->h, "a.test"), 0);
    assert_int_equal(hosted_cert_for(fx->h, "B.test"), 1);
    assert_int_equal(hosted_cert_for(fx->h, "c.test"), 2); /* by its SAN */
    assert_int_equal(hosted_cert_for(fx->h, "d.test"), -1);

    /* Unchanged files are not decoded again: the same X509 object comes back, and the name
     * index is not built again. */
    void *x_a = v[0].x509, *x_b = v[1].x509;
    const void *names = hosted_cert_index(fx->h)->v;
    assert_int_equal(hosted_cert_index(fx->h)->n, 4); /* DNS SANs: other.test has two */
    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_ptr_equal(v[0].x509, x_a);
    assert_ptr_equal(v[1].x509, x_b);
    assert_ptr_equal(hosted_cert_index(fx->h)->v, names);
    assert_ptr_equal(hosted_cert_index(fx->h)->certs, v);
    /* A file replaced (other size or mtime) is read again; one removed goes. */
    make_cert(fx, "mta-sts.a.test", "A2", "DNS:mta-sts.a.test", 60, 0);
    char *p = xasprintf("%s/other.test.pem", hosted_cert_dir(fx->h));
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].issuer, "CN=A2, O=Test CA");
    assert_true(v[0].not_after - v[0].not_before == 60 * 86400);
    assert_ptr_equal(v[1].x509, x_b);
    assert_int_equal(hosted_cert_for(fx->h, "c.test"), -1);

    /* cert_dir gone: nothing, not an error */
    char *cmd = xasprintf("rm -rf '%s'", hosted_cert_dir(fx->h));
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(hosted_certs(fx->h, &v, &n), 0);
    assert_int_equal(n, 0);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
