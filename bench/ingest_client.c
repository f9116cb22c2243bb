/*
 * ingest_client.c - a load client for report intake: posts distinct TLS-RPT reports over
 * HTTPS/1.1 (keep-alive, or a new TLS connection per report) and prints one JSON line with
 * the rate and the latency percentiles. Built and run by bench/ingest.sh.
 *
 * Why not h2load: it sends one body over and over, and every report after the first would
 * be a duplicate (200) that never reaches an INSERT. Here every request carries its own
 * report-id, built in memory, so the client costs little CPU next to the server.
 *
 *   ingest_client --port P [--addr 127.0.0.1] [--host mta-sts.a.test] [--cafile F]
 *                 [--path /tlsrpt] [--conns N] [--total N | --duration S] [--rps R]
 *                 [--new-conn] [--prefix S] [--domain D] [--get]
 *
 * --get sends GET --path instead (the policy URL: the bare TLS handshake rate with
 * --new-conn, measured with the same client). "created" then counts 200 answers.
 * --rps paces the requests (open loop: latency is measured from when a request was due,
 * so a slow answer is not hidden by the requests it delayed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *opt_addr = "127.0.0.1", *opt_host = "mta-sts.a.test", *opt_cafile = NULL;
static const char *opt_path = "/tlsrpt", *opt_prefix = "bench", *opt_domain = "a.test";
static int opt_port = 0, opt_conns = 16, opt_new_conn = 0, opt_get = 0;
static long opt_total = 0;
static double opt_duration = 0, opt_rps = 0;
static SSL_CTX *ctx;
static double t_start, t_end;
static atomic_long next_seq;

struct stats {
    long sent, s201, s200, s429, s503, other, errors;
    double *lat;
    size_t n_lat, cap_lat;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

struct conn {
    int fd;
    SSL *ssl;
    char buf[16384];
    size_t have;
};

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->have = 0;
}

static int conn_open(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
    inet_pton(AF_INET, opt_addr, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    c->have = 0;
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        conn_close(c);
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ctx);
    SSL_set_tlsext_host_name(c->ssl, opt_host);
    if (opt_cafile)
        SSL_set1_host(c->ssl, opt_host);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        ERR_print_errors_fp(stderr);
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Read more of the response into c->buf; 0, or -1 when it is full or the read fails. */
static int read_more(struct conn *c)
{
    if (c->have == sizeof(c->buf))
        return -1;
    int n = SSL_read(c->ssl, c->buf + c->have, (int)(sizeof(c->buf) - c->have));
    if (n <= 0)
        return -1;
    c->have += (size_t)n;
    return 0;
}

/* Read one response; returns the status or -1. Handles Content-Length bodies only (what
 * stsd sends). */
static int read_response(struct conn *c, int *closing)
{
    for (;;) {
        char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t hlen = (size_t)(end - c->buf) + 4;
            int status = 0;
            if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
                return -1;
            size_t clen = 0;
            *closing = 0;
            for (char *p = c->buf; p < end;) {
                char *nl = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
                if (nl == NULL)
                    break;
                if (strncasecmp(p, "content-length:", 15) == 0)
                    clen = strtoul(p + 15, NULL, 10);
                else if (strncasecmp(p, "connection:", 11) == 0 && strcasestr(p, "close") &&
                         strcasestr(p, "close") < nl)
                    *closing = 1;
                p = nl + 2;
            }
            while (c->have < hlen + clen)
                if (read_more(c) != 0)
                    return -1;
            memmove(c->buf, c->buf + hlen + clen, c->have - hlen - clen);
            c->have -= hlen + clen;
            return status;
        }
        if (read_more(c) != 0)
            return -1;
    }
}

static size_t make_request(char *out, size_t outsz, long seq)
{
    if (opt_get)
        return (size_t)snprintf(out, outsz, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", opt_path,
                                opt_host, opt_new_conn ? "Connection: close\r\n" : "");
    char body[1200];
    int blen = snprintf(
        body, sizeof(body),
        "{\"organization-name\":\"Bench Sender\",\"date-range\":{\"start-datetime\":"
        "\"2026-11-01T00:00:00Z\",\"end-datetime\":\"2026-11-01T23:59:59Z\"},"
        "\"contact-info\":\"tlsrpt@bench.test\",\"report-id\":\"%s-%ld\",\"policies\":[{"
        "\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\","
        "\"mode: enforce\",\"mx: mx1.%s\",\"max_age: 86400\"],\"policy-domain\":\"%s\","
        "\"mx-host\":[\"mx1.%s\"]},\"summary\":{\"total-successful-session-count\":%ld,"
        "\"total-failure-session-count\":2},\"failure-details\":[{\"result-type\":"
        "\"certificate-expired\",\"sending-mta-ip\":\"192.0.2.1\",\"receiving-mx-hostname\":"
        "\"mx1.%s\",\"receiving-ip\":\"198.51.100.7\",\"failed-session-count\":2}]}]}",
        opt_prefix, seq, opt_domain, opt_domain, opt_domain, seq % 1000, opt_domain);
    int n = snprintf(out, outsz,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\n"
                     "Content-Length: %d\r\n%s\r\n%s",
                     opt_path, opt_host, blen, opt_new_conn ? "Connection: close\r\n" : "", body);
    return (size_t)n;
}

struct worker {
    pthread_t tid;
    int idx;
    struct stats st;
};

static void add_lat(struct stats *s, double ms)
{
    if (s->n_lat == s->cap_lat) {
        s->cap_lat = s->cap_lat ? s->cap_lat * 2 : 4096;
        s->lat = realloc(s->lat, s->cap_lat * sizeof(double));
        if (s->lat == NULL)
            abort();
    }
    s->lat[s->n_lat++] = ms;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct conn c = {.fd = -1};
    char req[2048];
    double interval = opt_rps > 0 ? (double)opt_conns / opt_rps : 0;
    double due = t_start + (opt_rps > 0 ? (double)w->idx / opt_rps : 0);
    for (;;) {
        if (opt_duration > 0 && now_s() >= t_end)
            break;
        long seq = atomic_fetch_add(&next_seq, 1);
        if (opt_total > 0 && seq >= opt_total)
            break;
        if (interval > 0) {
            sleep_until(due);
        } else {
            due = now_s();
        }
        size_t len = make_request(req, sizeof(req), seq);
        int status = -1, closing = 0;
        for (int attempt = 0; attempt < 2 && status < 0; attempt++) {
            if (c.ssl == NULL && conn_open(&c) != 0)
                break;
            if (SSL_write(c.ssl, req, (int)len) != (int)len) {
                conn_close(&c);
                continue;
            }
            status = read_response(&c, &closing);
            if (status < 0)
                conn_close(&c);
        }
        double done = now_s();
        w->st.sent++;
        if (status < 0) {
            w->st.errors++;
        } else {
            add_lat(&w->st, (done - due) * 1000.0);
            if (status == 201 || (opt_get && status == 200))
                w->st.s201++;
            else if (status == 200)
                w->st.s200++;
            else if (status == 429)
                w->st.s429++;
            else if (status == 503)
                w->st.s503++;
            else
                w->st.other++;
        }
        if (opt_new_conn || closing)
            conn_close(&c);
        due += interval;
    }
    conn_close(&c);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    /* Every option: its name and the variable it sets (a flag sets 1). */
    enum kind { STR, INT, LONG, DBL, FLAG };
    static const struct {
        const char *name;
        enum kind kind;
        void *var;
    } opts[] = {{"port", INT, &opt_port},     {"addr", STR, &opt_addr},
                {"host", STR, &opt_host},     {"cafile", STR, &opt_cafile},
                {"path", STR, &opt_path},     {"conns", INT, &opt_conns},
                {"total", LONG, &opt_total},  {"duration", DBL, &opt_duration},
                {"rps", DBL, &opt_rps},       {"new-conn", FLAG, &opt_new_conn},
                {"prefix", STR, &opt_prefix}, {"domain", STR, &opt_domain},
                {"get", FLAG, &opt_get}};
    enum { N_OPTS = sizeof(opts) / sizeof(opts[0]) };
    struct option lo[N_OPTS + 1] = {{0, 0, 0, 0}};
    for (int i = 0; i < N_OPTS; i++)
        lo[i] = (struct option){opts[i].name, opts[i].kind != FLAG, 0, i};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o < 0 || o >= N_OPTS) {
            fprintf(stderr, "usage: see the comment at the top of bench/ingest_client.c\n");
            return 64;
        }
        void *v = opts[o].var;
        switch (opts[o].kind) {
        case STR:
            *(const char **)v = optarg;
            break;
        case INT:
            *(int *)v = atoi(optarg);
            break;
        case LONG:
            *(long *)v = atol(optarg);
            break;
        case DBL:
            *(double *)v = atof(optarg);
            break;
        case FLAG:
            *(int *)v = 1;
            break;
        }
    }
    if (opt_port <= 0 || opt_conns <= 0 || (opt_total <= 0 && opt_duration <= 0)) {
        fprintf(stderr, "ingest_client: --port and --total or --duration are required\n");
        return 64;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Every new connection is a full handshake, as h2load's are: no resumption. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (opt_cafile) {
        if (SSL_CTX_load_verify_locations(ctx, opt_cafile, NULL) != 1) {
            fprintf(stderr, "ingest_client: cannot load %s\n", opt_cafile);
            return 66;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    struct worker *w = calloc((size_t)opt_conns, sizeof(*w));
    t_start = now_s() + 0.05;
    t_end = t_start + opt_duration;
    for (int i = 0; i < opt_conns; i++) {
        w[i].idx = i;
        pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
    }
    struct stats tot = {0};
    for (int i = 0; i < opt_conns; i++) {
        pthread_join(w[i].tid, NULL);
        tot.sent += w[i].st.sent;
        tot.s201 += w[i].st.s201;
        tot.s200 += w[i].st.s200;
        tot.s429 += w[i].st.s429;
        tot.s503 += w[i].st.s503;
        tot.other += w[i].st.other;
        tot.errors += w[i].st.errors;
        for (size_t k = 0; k < w[i].st.n_lat; k++)
            add_lat(&tot, w[i].st.lat[k]);
        free(w[i].st.lat);
    }
    double secs = now_s() - t_start;
    qsort(tot.lat, tot.n_lat, sizeof(double), cmp_d);
#define PCT(p) (tot.n_lat ? tot.lat[(size_t)((double)(tot.n_lat - 1) * (p))] : 0.0)
    printf("{\"sent\":%ld,\"created\":%ld,\"duplicate\":%ld,\"rate_limited\":%ld,"
           "\"unavailable\":%ld,\"other\":%ld,\"errors\":%ld,\"seconds\":%.3f,"
           "\"created_per_s\":%.1f,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
           "\"max_ms\":%.2f}\n",
           tot.sent, tot.s201, tot.s200, tot.s429, tot.s503, tot.other, tot.errors, secs,
           (double)tot.s201 / secs, PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0));
    free(tot.lat);
    free(w);
    SSL_CTX_free(ctx);
    return tot.errors || tot.other ? 1 : 0;
}
