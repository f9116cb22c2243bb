/* acme_probe.c - a test program that orders one certificate with the ACME client: it answers
 * the challenge itself (http-01: a tiny HTTP responder; tls-alpn-01: a tiny TLS server that
 * selects ALPN "acme-tls/1") on the port the CA validates against, writes the chain and the key
 * to files and reports the account. Built only with the tests.
 *
 * usage: acme_probe --directory URL --account-key FILE --host NAME... --challenge TYPE
 *                   --port PORT [--ca-file FILE] [--contact MAILTO] [--chain FILE] [--key FILE]
 *                   [--out-dir DIR] [--poll-max SECONDS] [--account-only] [--pause]
 *                   [--timeout SECONDS] [--cancel-after SECONDS]
 * Each --host is ordered in turn with one client; --chain/--key name the files of a single
 * host, --out-dir holds HOST.chain.pem and HOST.key.pem. With --pause the probe prints
 * "next HOST" before every order but the first and waits for a line on stdin (the test
 * changes the CA meanwhile). --cancel-after makes opts->cancelled say yes that long after the
 * start.
 * stdout: "account created|existing URL", then per host "issued HOST served=N" (validation
 * requests answered) with the files written, or "error status=NAME http=N retry_after=N
 * type=T detail=D"; exit 1 when an order failed. */
#include "acme/acme.h"
#include "common/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* What the responder answers: set by present(), cleared by cleanup(). */
static struct {
    pthread_mutex_t mu;
    int tls; /* 1: tls-alpn-01 */
    char token[256];
    char key_auth[512];
    X509 *cert;
    EVP_PKEY *key;
    int served; /* validation requests answered */
    volatile int stop;
} resp = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct timespec started;
static double cancel_after; /* seconds; 0 = never */

static int cancelled(void *arg)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double t = (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
    return cancel_after > 0 && t >= cancel_after;
}

static int present(void *arg, const char *type, const char *host, const char *token,
                   const char *key_auth)
{
    pthread_mutex_lock(&resp.mu);
    snprintf(resp.token, sizeof(resp.token), "%s", token);
    snprintf(resp.key_auth, sizeof(resp.key_auth), "%s", key_auth);
    int rc = 0;
    if (resp.tls) {
        X509_free(resp.cert);
        EVP_PKEY_free(resp.key);
        rc = acme_tlsalpn_cert(host, key_auth, &resp.cert, &resp.key);
    }
    pthread_mutex_unlock(&resp.mu);
    return rc;
}

static void cleanup(void *arg, const char *type, const char *host, const char *token)
{
    pthread_mutex_lock(&resp.mu);
    resp.token[0] = '\0';
    resp.key_auth[0] = '\0';
    pthread_mutex_unlock(&resp.mu);
}

static void answer_http(int fd)
{
    char req[4096] = "";
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
        if (poll(&p, 1, 5000) <= 0)
            return;
        ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
    }
    static const char prefix[] = "GET /.well-known/acme-challenge/";
    char body[600] = "";
    int ok = 0;
    pthread_mutex_lock(&resp.mu);
    size_t tl = strlen(resp.token);
    if (tl > 0 && strncmp(req, prefix, sizeof(prefix) - 1) == 0 &&
        strncmp(req + sizeof(prefix) - 1, resp.token, tl) == 0 &&
        req[sizeof(prefix) - 1 + tl] == ' ') {
        snprintf(body, sizeof(body), "%s", resp.key_auth);
        ok = 1;
        resp.served++;
    }
    pthread_mutex_unlock(&resp.mu);
    char out[800];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     ok ? "200 OK" : "404 Not Found", strlen(body), body);
    if (write(fd, out, (size_t)n) < 0)
        return;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char want[] = "\x0a"
                                        "acme-tls/1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, want, sizeof(want) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void answer_tls(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return;
    pthread_mutex_lock(&resp.mu);
    int have = resp.cert != NULL && resp.token[0] != '\0';
    if (have)
        SSL_use_cert_and_key(ssl, resp.cert, resp.key, NULL, 1);
    pthread_mutex_unlock(&resp.mu);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL_set_fd(ssl, fd);
    if (have && SSL_accept(ssl) == 1) {
        pthread_mutex_lock(&resp.mu);
        resp.served++;
        pthread_mutex_unlock(&resp.mu);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
}

static void *responder(void *arg)
{
    int lfd = *(int *)arg;
    SSL_CTX *ctx = NULL;
    if (resp.tls) {
        ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    }
    while (!resp.stop) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (resp.tls)
            answer_tls(ctx, fd);
        else
            answer_http(fd);
        close(fd);
    }
    SSL_CTX_free(ctx);
    return NULL;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
        perror("listen");
        exit(2);
    }
    return fd;
}

static int write_file(const char *path, const char *text)
{
    return path == NULL ? 0 : file_write_atomic(path, text, strlen(text), 0600);
}

static void print_error(const struct acme_error *e)
{
    struct text_safe ts = {0};
    printf("error status=%s http=%ld retry_after=%ld type=%s detail=%s\n",
           acme_status_name(e->status), e->http_status, e->retry_after,
           text_safe(&ts, e->type[0] ? e->type : "-"), text_safe(&ts, e->detail));
    text_safe_free(&ts);
}

/* Order host; write the chain and key to chain_out/key_out or into out_dir. 0, 1 when the order
 * failed, 2 when a file could not be written. */
static int order_one(struct acme_client *c, const char *host, const char *chain_out,
                     const char *key_out, const char *out_dir)
{
    struct acme_challenge_ops ops = {.present = present, .cleanup = cleanup};
    struct acme_error e;
    char *chain = NULL, *kpem = NULL, *cpath = NULL, *kpath = NULL;
    int rc = 0;
    pthread_mutex_lock(&resp.mu);
    resp.served = 0;
    pthread_mutex_unlock(&resp.mu);
    if (out_dir != NULL) {
        cpath = xasprintf("%s/%s.chain.pem", out_dir, host);
        kpath = xasprintf("%s/%s.key.pem", out_dir, host);
    }
    if (acme_order(c, host, &ops, &chain, &kpem, &e) != ACME_OK) {
        print_error(&e);
        rc = 1;
    } else if (write_file(cpath != NULL ? cpath : chain_out, chain) != 0 ||
               write_file(kpath != NULL ? kpath : key_out, kpem) != 0) {
        perror("write");
        rc = 2;
    } else {
        printf("issued %s served=%d\n", host, resp.served);
    }
    fflush(stdout);
    free(cpath);
    free(kpath);
    free(chain);
    free(kpem);
    return rc;
}

int main(int argc, char **argv)
{
    struct acme_options o = {.challenge = "http-01"};
    const char *key_path = NULL, *chain_out = NULL, *key_out = NULL, *out_dir = NULL;
    const char *hosts[8];
    int port = 0, account_only = 0, pause = 0, n_hosts = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--account-only") == 0 || strcmp(a, "--pause") == 0) {
            *(a[2] == 'a' ? &account_only : &pause) = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "acme_probe: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--directory") == 0)
            o.directory = v;
        else if (strcmp(a, "--ca-file") == 0)
            o.ca_file = v;
        else if (strcmp(a, "--contact") == 0)
            o.contact = v;
        else if (strcmp(a, "--challenge") == 0)
            o.challenge = v;
        else if (strcmp(a, "--poll-max") == 0)
            o.poll_max = atol(v);
        else if (strcmp(a, "--timeout") == 0)
            o.timeout = atol(v);
        else if (strcmp(a, "--cancel-after") == 0)
            cancel_after = atof(v);
        else if (strcmp(a, "--account-key") == 0)
            key_path = v;
        else if (strcmp(a, "--host") == 0 && n_hosts < 8)
            hosts[n_hosts++] = v;
        else if (strcmp(a, "--out-dir") == 0)
            out_dir = v;
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--chain") == 0)
            chain_out = v;
        else if (strcmp(a, "--key") == 0)
            key_out = v;
        else {
            fprintf(stderr, "acme_probe: unknown option %s\n", a);
            return 2;
        }
    }
    if (o.directory == NULL || key_path == NULL || (!account_only && (n_hosts == 0 || !port))) {
        fprintf(stderr, "acme_probe: --directory, --account-key, --host and --port are needed\n");
        return 2;
    }
    /* a validation connection the CA closes must not end the program */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[256];
    EVP_PKEY *key = acme_account_key_load(key_path, err, sizeof(err));
    if (key == NULL) {
        fprintf(stderr, "acme_probe: %s\n", err);
        return 2;
    }
    resp.tls = strcmp(o.challenge, "tls-alpn-01") == 0;
    pthread_t th;
    int lfd = -1;
    if (!account_only) {
        lfd = listen_on(port);
        pthread_create(&th, NULL, responder, &lfd);
    }
    clock_gettime(CLOCK_MONOTONIC, &started);
    o.cancelled = cancelled;
    struct acme_client *c = acme_client_new(&o, key);
    struct acme_error e;
    int created = -1, rc = 0;
    if (acme_client_account(c, &created, &e) != ACME_OK) {
        print_error(&e);
        rc = 1;
    } else {
        printf("account %s %s\n", created ? "created" : "existing", acme_client_account_url(c));
    }
    for (int i = 0; rc != 2 && !account_only && created != -1 && i < n_hosts; i++) {
        if (pause && i > 0) {
            printf("next %s\n", hosts[i]);
            fflush(stdout);
            char line[16];
            if (fgets(line, sizeof(line), stdin) == NULL)
                break;
        }
        int r1 = order_one(c, hosts[i], n_hosts == 1 ? chain_out : NULL,
                           n_hosts == 1 ? key_out : NULL, out_dir);
        rc = r1 > rc ? r1 : rc;
    }
    fflush(stdout);
    if (lfd >= 0) {
        resp.stop = 1;
        pthread_join(th, NULL);
        close(lfd);
    }
    X509_free(resp.cert);
    EVP_PKEY_free(resp.key);
    acme_client_free(c);
    EVP_PKEY_free(key);
    curl_global_cleanup();
    return rc;
}
