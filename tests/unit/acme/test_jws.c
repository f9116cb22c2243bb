/* test_jws.c - base64url, the P-256 JWK and thumbprint, ES256 JWS, the account key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "acme/acme.h"
#include "common/common.h"
#include "tests/unit/unit_test.h"

#include <openssl/ec.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* RFC 7515 Appendix A.3: the ES256 example's public key, signing input and signature. */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_protected[] = "eyJhbGciOiJFUzI1NiJ9";
static const char a3_payload[] = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGF"
                                 "tcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_sig[] = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
                             "xfKTUJqPP3-Kg6NU1Q";
/* RFC 7638 thumbprint of the A.3 key, computed once outside this code with python3's standard
 * library: base64.urlsafe_b64encode(hashlib.sha256(b'{"crv":"P-256","kty":"EC","x":"<a3_x>",'
 * b'"y":"<a3_y>"}').digest()).rstrip(b"=") */
static const char a3_thumbprint[] = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";

static unsigned char *dec(const char *s, size_t *len)
{
    return acme_b64url_decode(s, strlen(s), len);
}

static EVP_PKEY *a3_key(void)
{
    size_t xl = 0, yl = 0;
    unsigned char *x = dec(a3_x, &xl), *y = dec(a3_y, &yl);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(xl, 32);
    assert_int_equal(yl, 32);
    EVP_PKEY *k = acme_p256_from_xy(x, y);
    free(x);
    free(y);
    assert_non_null(k);
    return k;
}

static void test_b64url(void **state)
{
    /* RFC 4648 section 10's vectors, in the URL alphabet without padding */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char *e = acme_b64url_encode(in[i], strlen(in[i]));
        assert_string_equal(e, out[i]);
        free(e);
        size_t len = 99;
        unsigned char *d = dec(out[i], &len);
        assert_non_null(d);
        assert_int_equal(len, strlen(in[i]));
        assert_memory_equal(d, in[i], len);
        free(d);
    }
    /* the two characters that differ from base64: 0xfb 0xff -> "-_8" */
    const unsigned char bin[] = {0xfb, 0xff};
    char *e = acme_b64url_encode(bin, 2);
    assert_string_equal(e, "-_8");
    free(e);
    size_t len = 0;
    /* rejected: the standard alphabet, padding, a lone character, non-zero unused bits */
    const char *bad[] = {"+/8", "Zg==", "Zm9vY", "Zh", "Zm9=", "Zm 9v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(dec(bad[i], &len));
}

static void test_a3_verify(void **state)
{
    EVP_PKEY *k = a3_key();
    assert_int_equal(acme_jws_verify(k, a3_protected, a3_payload, a3_sig), 1);
    char *compact = xasprintf("%s.%s.%s", a3_protected, a3_payload, a3_sig);
    assert_int_equal(acme_jws_verify_compact(k, compact), 1);
    free(compact);
    char *flat = xasprintf("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                           a3_protected, a3_payload, a3_sig);
    assert_int_equal(acme_jws_verify_flattened(k, flat), 1);
    free(flat);

    /* one byte of the signature flipped */
    size_t len = 0;
    unsigned char *rs = dec(a3_sig, &len);
    assert_int_equal(len, 64);
    rs[10] ^= 0x01;
    char *bad = acme_b64url_encode(rs, len);
    assert_int_equal(acme_jws_verify(k, a3_protected, a3_payload, bad), 0);
    free(bad);
    rs[10] ^= 0x01;
    rs[40] ^= 0x80; /* in S */
    bad = acme_b64url_encode(rs, len);
    assert_int_equal(acme_jws_verify(k, a3_protected, a3_payload, bad), 0);
    free(bad);
    free(rs);
    /* one byte of the payload changed */
    char *pay = xstrdup(a3_payload);
    pay[5] = pay[5] == 'A' ? 'B' : 'A';
    assert_int_equal(acme_jws_verify(k, a3_protected, pay, a3_sig), 0);
    free(pay);
    /* truncated signature, the wrong number of parts */
    assert_int_equal(acme_jws_verify(k, a3_protected, a3_payload, "DtEhU3ljbEg8"), 0);
    assert_int_equal(acme_jws_verify_compact(k, "a.b"), 0);
    EVP_PKEY_free(k);
}

static void test_a3_jwk_thumbprint(void **state)
{
    EVP_PKEY *k = a3_key();
    json_t *jwk = acme_jwk(k);
    assert_non_null(jwk);
    char *text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    char *want =
        xasprintf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a3_x, a3_y);
    assert_string_equal(text, want);
    free(text);
    free(want);
    json_decref(jwk);
    char *tp = acme_jwk_thumbprint(k);
    assert_string_equal(tp, a3_thumbprint);
    free(tp);
    EVP_PKEY_free(k);
    /* not on the curve */
    unsigned char x[32] = {1}, y[32] = {2};
    assert_null(acme_p256_from_xy(x, y));
}

/* The protected header of a flattened JWS, decoded. */
static json_t *protected_header(json_t *jws)
{
    const char *p = json_string_value(json_object_get(jws, "protected"));
    assert_non_null(p);
    size_t len = 0;
    unsigned char *t = dec(p, &len);
    assert_non_null(t);
    json_t *h = json_loadb((const char *)t, len, 0, NULL);
    free(t);
    assert_non_null(h);
    return h;
}

static void test_sign_roundtrip(void **state)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    /* newAccount: the key's JWK in the header */
    char *s = acme_jws_sign(key, "nonce-1", "https://ca.example/acme/new-acct", NULL,
                            "{\"termsOfServiceAgreed\":true}");
    assert_non_null(s);
    assert_int_equal(acme_jws_verify_flattened(key, s), 1);
    json_t *jws = json_loads(s, 0, NULL);
    assert_non_null(jws);
    assert_int_equal(json_object_size(jws), 3);
    json_t *h = protected_header(jws);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "nonce")), "nonce-1");
    assert_string_equal(json_string_value(json_object_get(h, "url")),
                        "https://ca.example/acme/new-acct");
    assert_null(json_object_get(h, "kid"));
    json_t *jwk = acme_jwk(key);
    assert_true(json_equal(json_object_get(h, "jwk"), jwk));
    json_decref(jwk);
    json_decref(h);
    size_t len = 0;
    unsigned char *pay = dec(json_string_value(json_object_get(jws, "payload")), &len);
    assert_non_null(pay);
    assert_string_equal((char *)pay, "{\"termsOfServiceAgreed\":true}");
    free(pay);
    unsigned char *rs = dec(json_string_value(json_object_get(jws, "signature")), &len);
    assert_int_equal(len, 64);
    free(rs);
    json_decref(jws);
    free(s);

    /* POST-as-GET with a kid: empty payload, no jwk */
    s = acme_jws_sign(key, "nonce-2", "https://ca.example/acme/order/1",
                      "https://ca.example/acme/acct/7", NULL);
    assert_non_null(s);
    assert_int_equal(acme_jws_verify_flattened(key, s), 1);
    jws = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(jws, "payload")), "");
    h = protected_header(jws);
    assert_string_equal(json_string_value(json_object_get(h, "kid")),
                        "https://ca.example/acme/acct/7");
    assert_null(json_object_get(h, "jwk"));
    json_decref(h);
    json_decref(jws);

    /* another key does not verify it */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    assert_non_null(other);
    assert_int_equal(acme_jws_verify_flattened(other, s), 0);
    EVP_PKEY_free(other);
    free(s);
    assert_null(acme_jws_sign(key, NULL, "https://x", NULL, NULL));
    EVP_PKEY_free(key);
}

static void test_account_key_file(void **state)
{
    char dir[] = "/tmp/stsd-acme-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/account.key", dir);
    char err[256] = "";

    EVP_PKEY *k1 = acme_account_key_load(path, err, sizeof(err));
    assert_non_null(k1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *t1 = acme_jwk_thumbprint(k1);

    /* the second load reuses the key */
    EVP_PKEY *k2 = acme_account_key_load(path, err, sizeof(err));
    assert_non_null(k2);
    char *t2 = acme_jwk_thumbprint(k2);
    assert_string_equal(t1, t2);
    json_t *j1 = acme_jwk(k1), *j2 = acme_jwk(k2);
    assert_true(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    /* and signs with it */
    char *s = acme_jws_sign(k2, "n", "https://ca.example/x", NULL, "{}");
    assert_int_equal(acme_jws_verify_flattened(k1, s), 1);
    free(s);
    EVP_PKEY_free(k2);

    /* readable by others: refused with a clear message */
    assert_int_equal(chmod(path, 0644), 0);
    err[0] = '\0';
    assert_null(acme_account_key_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "0644"));
    assert_int_equal(chmod(path, 0600), 0);

    /* not a key */
    char *junk = xasprintf("%s/junk.key", dir);
    assert_int_equal(file_write_atomic(junk, "hello\n", 6, 0600), 0);
    assert_null(acme_account_key_load(junk, err, sizeof(err)));
    assert_non_null(strstr(err, "P-256"));
    assert_null(acme_account_key_load(junk, NULL, 0));
    unlink(junk);
    free(junk);

    unlink(path);
    assert_int_equal(rmdir(dir), 0);
    free(t1);
    free(t2);
    EVP_PKEY_free(k1);
    free(path);
}

/* Processes that start at once with no key file: exactly one key is created, and every one of
 * them uses that key (a key replaced after another process loaded it would make a second
 * account). */
static void test_account_key_race(void **state)
{
    (void)state;
    char dir[] = "/tmp/stsd-acme-race-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/account.key", dir);
    enum { N = 8 };
    int fds[N];
    pid_t pids[N];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            int p[2];
            assert_int_equal(pipe(p), 0);
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(p[0]);
                EVP_PKEY *k = acme_account_key_load(path, NULL, 0);
                char *t = k != NULL ? acme_jwk_thumbprint(k) : xstrdup("none");
                ssize_t w = write(p[1], t, strlen(t));
                _exit(w > 0 ? 0 : 1);
            }
            close(p[1]);
            fds[i] = p[0];
        }
        char got[N][64];
        for (int i = 0; i < N; i++) {
            ssize_t n = read(fds[i], got[i], sizeof(got[i]) - 1);
            assert_true(n > 0);
            got[i][n] = '\0';
            close(fds[i]);
            int status;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_int_equal(status, 0);
        }
        EVP_PKEY *k = acme_account_key_load(path, NULL, 0);
        assert_non_null(k);
        char *t = acme_jwk_thumbprint(k);
        for (int i = 0; i < N; i++)
            assert_string_equal(got[i], t);
        free(t);
        EVP_PKEY_free(k);
        unlink(path);
    }
    /* nothing left behind but the directory */
    assert_int_equal(rmdir(dir), 0);
    free(path);
}

UNIT_TESTS(NULL, cmocka_unit_test(test_b64url), cmocka_unit_test(test_a3_verify),
           cmocka_unit_test(test_a3_jwk_thumbprint), cmocka_unit_test(test_sign_roundtrip),
           cmocka_unit_test(test_account_key_file), cmocka_unit_test(test_account_key_race))
