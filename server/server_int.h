/*
 * server_int.h - declarations shared by the files of server/ only, and the extension
 * points for the other parts of `stsd serve` (report intake, admin listener).
 *
 * Threads:
 *   - the main thread is the control thread: it handles signals (signalfd), watches the
 *     policy and certificate directories (inotify, debounced), builds new tables (the only
 *     thread that opens SQLite for policy_versions) and swaps them in;
 *   - N loop threads (`[server] threads`, 0 = nproc), each with its own h2o_evloop,
 *     h2o_context and one SO_REUSEPORT listening socket per `[server] listen` address (and
 *     per `[admin] listen` address).
 *
 * Snapshots: what a loop thread serves (policy table + certificate table) is an immutable
 * struct srv_snapshot. The control thread publishes a new one and sends every loop thread
 * a message; a loop thread switches its own pointer (srv_thread.snap) when it handles the
 * message, between requests, and acknowledges. Only when every thread has acknowledged is
 * the old snapshot released. So code on a loop thread may use srv_current()->snap freely
 * for the duration of one callback, but must copy what it keeps longer (into req->pool).
 *
 * Extension points (for handler_report.c / writer.c and the admin listener):
 *   1. Write a `const struct srv_module` with the hooks you need and add it to the
 *      `srv__modules[]` array in server.c (one line), declaring it below.
 *   2. In `init`, register handlers: srv_public_path(srv, "/tlsrpt") returns an h2o pathconf
 *      on the public (HTTPS) listener, srv_admin_path(srv, "/api/v1") one on the admin
 *      (plain HTTP) listener; then h2o_create_handler(pathconf, sizeof(yours)) and set
 *      on_req. Registration happens before the catch-all "/" handler, so your paths win;
 *      any path nobody registered answers 404 (the policy path aside). h2o keeps pathconfs
 *      in a vector: use the pointer at once, it moves with the next registration.
 *   3. `thread_start` runs on each loop thread before it accepts (create h2o multithread
 *      receivers on t->ctx.queue there); `thread_stopping` when a graceful stop begins (the
 *      thread's listeners are closed, HTTP/2 connections got GOAWAY, idle HTTP/1 ones close
 *      within 100 ms); the thread keeps running its loop until its connections are gone (at
 *      most DRAIN_MS), so answers that are still due (a report waiting for its commit) go
 *      out; then `thread_stop`, and `fini` on the main thread at exit.
 *      t->module_data[idx] is a per-thread slot for each module, s->module_state[idx] a
 *      process-wide one.
 *   4. From a loop thread: srv_current()->snap->policies is the table being served
 *      (srv_policy_lookup, items[], invalid[] with file/line/reason of broken files).
 *
 * TLS: one SSL_CTX; the SNI callback looks the name up in the snapshot's certificate table
 * (file names <host>.pem / <host>.crt+.key first, then DNS SANs, then "*.<parent>" SANs),
 * else uses default.pem, else aborts the handshake (unrecognized_name). Certificates and
 * keys are decoded on first use or by the control thread's background warm-up after each
 * reload; SAN names of certificates new in a reload are indexed by a second, cheap reload
 * once the warm-up is done.
 */
#ifndef STSD_SERVER_INT_H
#define STSD_SERVER_INT_H

#include "server/server.h"
#include "common/config.h"
#include "policy/policy.h"
#include "sql/db.h"

#include <h2o.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct srv;
struct srv_thread;

/* ---- control.c: the control thread's wake-ups besides signals ---- */
enum { SRV_RELOAD_POLICIES = 1, SRV_RELOAD_CERTS = 2 };
/* Watch a directory for changes (a warning is logged when it cannot be watched); the watch
 * descriptor or -1. */
int srv__watch_dir(int ifd, const char *dir);
/* Drain an inotify fd: which of the two directories (SRV_RELOAD_*) changed. */
int srv__read_inotify(int ifd, int wd_pol, int wd_cert);
/* Reload requests. The control thread polls srv__reload_ask_open()'s fd (-1: none), takes a
 * request (the sequence it answers), reloads and publishes, then marks it done; at stop it
 * closes, releasing every waiter. */
int srv__reload_ask_open(void);
uint64_t srv__reload_ask_take(void);
void srv__reload_ask_done(uint64_t seq);
void srv__reload_ask_close(void);
/* Any thread but a loop thread (admin workers): have the control thread re-read policies and
 * certificates now, and wait until every loop thread serves the result (at most timeout_ms).
 * 0, or -1 when no server runs or it took too long (the change is then picked up by the
 * directory watch or SIGHUP). */
int srv_reload_now(int timeout_ms);

/* ---- hash.c: an immutable open-addressing string -> index table ---- */
struct srv_hash {
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t mask;     /* capacity - 1 (a power of two, at least twice the entries) */
};
uint32_t srv__hash_str(const char *s, size_t len);
/* SipHash-2-4 of data under a 16-byte key. */
uint64_t srv__siphash(const unsigned char key[16], const void *data, size_t len);
/* SipHash under a per-process random key (OpenSSL RAND_bytes at first use, never stored):
 * for tables whose keys a client chooses (rate limits, connection counts). Any thread. */
uint64_t srv__hash_keyed(const void *data, size_t len);
/* The table key of a client address: family byte + the IPv4 address (also when IPv4-mapped)
 * or the IPv6 /64, zero-padded. Sets *family (AF_INET/AF_INET6) and *addr (the full address
 * in network bytes, for rate_exempt matching). -1 for other families (unix sockets). */
#define SRV_ADDR_KEY_LEN 17
struct sockaddr;
int srv__addr_key(const struct sockaddr *sa, unsigned char key[SRV_ADDR_KEY_LEN], int *family,
                  const unsigned char **addr);
/* Size for n entries. */
void srv__hash_init(struct srv_hash *h, size_t n);
void srv__hash_free(struct srv_hash *h);
/* Insert key -> idx unless the key is there already (keys(ctx, i) gives entry i's key).
 * Returns 1 inserted, 0 present. */
int srv__hash_put(struct srv_hash *h, const char *key, uint32_t idx,
                  const char *(*keys)(const void *ctx, uint32_t i), const void *ctx);
/* Index of key, or -1. */
long srv__hash_get(const struct srv_hash *h, const char *key, size_t len,
                   const char *(*keys)(const void *ctx, uint32_t i), const void *ctx);

/* ---- policies.c: the policy table (RFC 8461 §3.3) ---- */
struct srv_policy {
    char *domain; /* lowercased policy domain ("example.com"; served as mta-sts.<domain>) */
    char *body;   /* the file text with CRLF line endings */
    size_t len;
    unsigned char sha256[32];   /* of the file as read (what policy_versions records) */
    char id[POLICY_ID_MAX + 1]; /* from policy_versions; "" if the database was unavailable */
    int stale;                  /* the file on disk is invalid: this is the last good version */
    int mode;                   /* enum policy_mode of the text served */
};
struct srv_policy_invalid {
    char *domain; /* from the file name */
    char *file;
    int line;
    char *reason;
};
struct srv_policy_table {
    struct srv_policy *items; /* sorted by domain */
    size_t n;
    struct srv_hash index;
    struct srv_policy_invalid *invalid; /* files that do not parse (served or not) */
    size_t n_invalid;
    int refs; /* snapshots using it; touched by the control thread only */
};
/* Build a table from what `h` hosts (the ids recorded when new, unless h has no database),
 * keeping last good versions from `prev` (may be NULL) for files that do not parse, logging
 * policy.invalid for them. An unreadable or vanished directory is logged and gives NULL when
 * there is a `prev` to keep serving, else an empty table. */
struct hosted;
struct srv_policy_table *srv__policies_build(struct hosted *h, const struct srv_policy_table *prev);
struct srv;
/* Open s->hosted, creating the state directory and its parts (0750) when missing, chowned to
 * [server] user when serve created them. 0, or -1 (logged). */
int srv__hosted_open(struct srv *s);
/* Remove the policy files of RFC 8461 §8.3 withdrawals that have ended (logged). Returns how
 * many went, -1 when the database is not available. */
int srv__withdrawals_expire(struct srv *s);
void srv__policies_free(struct srv_policy_table *t);
/* Entry for a domain (lowercase, no trailing dot), or NULL. Safe on a loop thread. */
const struct srv_policy *srv_policy_lookup(const struct srv_policy_table *t, const char *domain,
                                           size_t len);
/* Normalise line endings to CRLF (a lone LF becomes CRLF, a lone CR is kept). malloc'd. */
char *srv__crlf(const char *in, size_t len, size_t *outlen);
/* From a Host / :authority value, the policy domain: lowercased, port and one trailing dot
 * removed, "mta-sts." prefix required and removed. Writes into out (NUL-terminated) and
 * returns its length, or -1 when it is not an mta-sts host name. */
int srv__policy_host(const char *host, size_t len, char *out, size_t outsz);

/* ---- tls.c: the certificate table; tls_ctx.c: the SSL_CTX, SNI callback, ticket keys ---- */
/* What a handshake needs, decoded from the DER kept in srv_cert. */
struct srv_cert_obj {
    X509 *x509;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    time_t not_after;
};
struct srv_cert {
    char *file; /* the .pem or .crt it came from */
    /* The PEM blocks are read and base64-decoded at load; the DER is decoded (d2i, the
     * bulk of the cost with 10,000 names) on first use (srv__cert_obj) or by the control
     * thread's warm-up after a reload, whichever comes first. */
    unsigned char **der; /* certificates, leaf first */
    long *der_len;
    int n_der;
    unsigned char *key_der;
    long key_der_len;
    _Atomic(struct srv_cert_obj *) obj;
    atomic_int failed; /* 1 once decoding failed (logged once) */
    /* of the files, to reuse unchanged certificates on reload: a file replaced by a rename
     * (an upload) has a new inode even within the same second */
    struct timespec mtime;
    ino_t ino;
    off_t size;
};
struct srv_cert_name {
    char *name; /* lowercased host name, or "*.example.com" from a wildcard SAN */
    uint32_t cert;
};
struct srv_cert_table {
    struct srv_cert *certs;
    size_t n;
    struct srv_cert_name *names;
    size_t n_names;
    struct srv_hash index;
    long default_cert;  /* index of default.pem, or -1 */
    size_t n_undecoded; /* certificates whose SANs are not indexed (not decoded at build) */
    int refs;
};
/* Load every <host>.pem / <host>.crt+<host>.key of dir (and default.pem). Files that fail
 * are logged (cert.invalid) and, when prev had them, the previous version is kept. An
 * unreadable directory gives NULL when there is a prev (keep serving it), else an empty
 * table. */
struct srv_cert_table *srv__certs_build(const char *dir, const struct srv_cert_table *prev);
void srv__certs_free(struct srv_cert_table *t);
/* The certificate for a server name (exact, then wildcard, then default), or NULL. */
const struct srv_cert *srv__cert_find(const struct srv_cert_table *t, const char *name);
/* The decoded certificate, chain and key, decoding them on first use (any thread;
 * lock-free). NULL when they do not decode or the key does not match (logged once as
 * cert.invalid). */
const struct srv_cert_obj *srv__cert_obj(const struct srv_cert *c);
/* Decode up to `max` certificates not decoded yet, starting at *cursor (advanced). Returns 1
 * while there are more to do. The control thread calls it after a reload; when a table is
 * done and had n_undecoded > 0, a certificate-only reload indexes the SANs. */
int srv__certs_warm(const struct srv_cert_table *t, size_t *cursor, size_t max);
/* The one SSL_CTX: protocol floor, TLS 1.2 suites SRV_TLS12_CIPHERS, ALPN (h2, http/1.1),
 * servername callback, session tickets under keys that rotate every [tls] ticket_lifetime
 * (kept in memory only; the previous key still decrypts). NULL + err. */
#define SRV_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
SSL_CTX *srv__ssl_ctx_new(const struct stsd_config *cfg, char *err, size_t errlen);

/* ---- the snapshot loop threads serve from ---- */
struct srv_snapshot {
    struct srv_policy_table *policies;
    struct srv_cert_table *certs;
    uint64_t generation;
};

/* ---- listen.c: sockets, accept, per-address connection cap ---- */
enum srv_listen_kind {
    SRV_LISTEN_PUBLIC = 0, /* [server] listen: HTTPS */
    SRV_LISTEN_ADMIN = 1,  /* [admin] listen: plain HTTP, no connection caps */
    SRV_LISTEN_ACME = 2,   /* [acme] http_listen: plain HTTP, http-01 only, capped as public */
};
struct srv_listener {
    char *addr; /* as configured, "127.0.0.1:443" */
    int admin;  /* an enum srv_listen_kind */
    int *fds;   /* one per loop thread (SO_REUSEPORT); -1 once a thread owns it */
    int n_fds;
};
/* Open n_threads sockets for addr (kind: an enum srv_listen_kind); 0 or -1 with a one-line
 * error (what, where, fix). */
int srv__listener_open(struct srv_listener *l, const char *addr, int kind, int n_threads, char *err,
                       size_t errlen);
void srv__listener_close(struct srv_listener *l);
/* Connection counting shared by all threads: per address (an IPv4 address or an IPv6 /64,
 * [server] max_conn_per_address) and in all on the public listeners ([server]
 * max_connections; 0 = srv__conns_max_default of the file limit, which is raised to the hard
 * limit first). At max_connections every thread stops accepting until connections close.
 * Call once before the loop threads start; logs the resolved cap (serve.max_connections). */
void srv__conns_init(const struct stsd_config *cfg);
/* 80 % of nofile (at least 1). */
long srv__conns_max_default(long nofile);
/* Account a new connection from sa. Returns a token for srv__conns_release, or NULL when
 * over the cap (the caller closes the socket). Exempt addresses get a static token. */
void *srv__conns_acquire(struct srv *s, const struct sockaddr *sa);
/* The same with the per-address cap `max` (<= 0: none) instead of max_conn_per_address (the
 * port-80 listener has a smaller one). One count per address serves every listener. */
void *srv__conns_acquire_max(struct srv *s, const struct sockaddr *sa, int max);
void srv__conns_release(void *token);
/* Refuse new connections from sa's address (IPv4, IPv6 /64) until until_ms (h2o_now's clock):
 * for a client that broke an HTTP/2 limit. rate_exempt ranges are never shut out. */
void srv__conns_penalize(const struct sockaddr *sa, uint64_t until_ms);
/* 1 when sa's address is shut out at now_ms. */
int srv__conns_penalized(const struct sockaddr *sa, uint64_t now_ms);
extern char srv__conns_exempt_token;
/* listen.c's per-connection slot for h2guard.c, or NULL for a socket it did not accept. */
struct srv_h2_guard;
struct srv_h2_guard **srv__conn_h2(h2o_socket_t *sock);
/* listen.c's per-connection state for h1guard.c, or NULL for a socket it did not accept. */
struct srv_h1_guard {
    uint64_t charged; /* this connection's share of h1guard.c's count */
};
struct srv_h1_guard *srv__conn_h1(h2o_socket_t *sock);
/* The port-80 listener's h2o configuration ([acme] http_listen, http-01): its host, and no
 * request body (nothing there takes one: a body is refused with 413 before it is read,
 * instead of being buffered up to [reports] max_body). Main thread, at start. */
void srv__acme_conf_init(struct srv *s);
/* Start accepting on this thread's sockets (and make its port-80 context). */
void srv__listeners_start(struct srv_thread *t);
/* Stop accepting (close this thread's listening sockets); idle connections are asked to
 * close. */
void srv__listeners_stop(struct srv_thread *t);
/* Release the thread's port-80 context (before its loop). */
void srv__listeners_dispose(struct srv_thread *t);

/* ---- privileges.c: [server] user ---- */
/* Look the user up and decide: started as root with a user, a drop is due; as root without
 * one, a warning is logged; not root, `user` must name the user serve runs as. 0 or -1. */
int srv__priv_prepare(const struct stsd_config *cfg, char *err, size_t errlen);
/* Give a file or directory serve has just created to the user a drop is due to (no-op
 * otherwise). 0, or -1 (logged). */
int srv__priv_created(const char *path);
/* Drop to the user and its groups for good and verify it (every thread, root not regained).
 * No-op when no drop is due. 0, or -1 with the reason in err. */
int srv__priv_drop(char *err, size_t errlen);
/* After a drop: the state directory and the database files must be writable. 0 or -1. */
int srv__priv_check_state(const char *state_dir, const char *db_path, char *err, size_t errlen);
/* For a file that cannot be read after the drop (errnum EACCES): " (serve runs as user ...:
 * make it readable ...)" to append to the message; "" otherwise. Any thread. */
const char *srv__priv_hint(int errnum);
/* ---- h2guard.c: HTTP/2 limits libh2o 2.2.5 lacks (its opening comment says how) ---- */
/* Per connection: at most 100 stream resets at once and 33/s after that (CVE-2023-44487);
 * a request body over max_body is cut to just over it while the client sends the rest, so
 * the handler answers 413; request bodies in progress on one connection at most
 * 2 x max_body + 64 KiB in all (past it the connection is closed).
 * Call once at start (srv__conns_init does). */
void srv__h2_guard_init(uint64_t max_body);
/* The body bytes h2o keeps for a connection's streams in progress are also charged to
 * h1guard.c's count (one budget for all unfinished request bodies); a connection whose
 * growth would pass it is closed (conn.h2_input). HEADERS-only streams never charge. */
struct srv_h2_guard *srv__h2_guard_new(h2o_socket_cb h2o_read, uint64_t now_ms);
void srv__h2_guard_free(struct srv_h2_guard *g); /* NULL is a no-op; releases its charge */
/* Account one frame (type, flags, stream id; data: a DATA frame's payload without padding)
 * for the streams in progress. *over: a DATA frame of a stream already past max_body (h2o
 * is to keep none of it). -1: the per-connection caps are passed; 0 otherwise. */
int srv__h2_guard_frame(struct srv_h2_guard *g, int type, int flags, uint32_t id, uint64_t data,
                        int *over);
/* Bring g's charge in the shared count to the body bytes it keeps now: -1 when it grew past
 * the budget, 0 otherwise (unchanged: two comparisons). */
int srv__h2_guard_settle(struct srv_h2_guard *g);
/* h2o's max_request_entity_size for this max_body. */
uint64_t srv__h2_entity_cap(uint64_t max_body);
/* The libh2o function `name` that a definition in this executable takes over (aborts when
 * libh2o lacks it). */
void *srv__libh2o_original(const char *name);
/* Call h2o's accept for sock with an empty input buffer (h2o would parse what is already in
 * the input at once, before a guard can go in front of its read callback), then give sock
 * its input back. */
typedef void (*srv_accept_fn)(h2o_accept_ctx_t *, h2o_socket_t *, struct timeval);
void srv__accept_input_held(srv_accept_fn accept, h2o_accept_ctx_t *ctx, h2o_socket_t *sock,
                            struct timeval connected_at);
/* Write DATA frames for stream id that carry no data but count len bytes of flow control
 * (padded, at most 256 bytes each; END_STREAM on the last if end_stream) into out, which
 * has room for len + 9 * (len / 256 + 1) bytes. Returns the bytes written. */
size_t srv__h2_empty_data(unsigned char *out, size_t len, int end_stream, uint32_t id);

/* ---- h1guard.c: the HTTP/1 request input libh2o holds, bounded in all connections ---- */
/* The input buffers of all HTTP/1 connections, each beyond its first 64 KiB, are counted
 * together; a connection whose buffer grows while the count is past
 * srv__h1_guard_budget(parse_memory, entity_cap) is closed before h2o parses the bytes.
 * Call once at start (srv__conns_init does). */
void srv__h1_guard_init(uint64_t parse_memory, uint64_t entity_cap);
/* parse_memory, but at least four requests of entity_cap (h2o's max_request_entity_size). */
uint64_t srv__h1_guard_budget(uint64_t parse_memory, uint64_t entity_cap);
/* The part of an input buffer of `capacity` bytes that is counted. */
uint64_t srv__h1_guard_counted(uint64_t capacity);
/* Bring g's share of the count to now_bytes (a srv__h1_guard_counted). -1 when it grew and
 * the count is then past the budget (one connection alone never is: the budget holds four of
 * the largest requests); 0 otherwise. Any thread. */
int srv__h1_guard_charge(struct srv_h1_guard *g, uint64_t now_bytes);
/* A connection closes: its share leaves the count. */
void srv__h1_guard_release(struct srv_h1_guard *g);
/* The count now (all protocols' shares). */
uint64_t srv__h1_guard_held(void);
/* One WARN line `event` a second at most per thread, for connections closed because the
 * count would pass the budget (proto: "HTTP/1", "HTTP/2"); l is the caller's per-thread state. */
struct srv_over_log {
    uint64_t last_ms, closed;
};
void srv__input_over_log(struct srv_over_log *l, uint64_t now_ms, const char *event,
                         const char *proto);

/* ---- handler_policy.c ---- */
#define SRV_POLICY_PATH "/.well-known/mta-sts.txt"
/* The catch-all handler on "/" of the public host: the policy endpoint, 404 elsewhere. */
void srv__policy_register(struct srv *s, h2o_pathconf_t *pathconf);
/* The catch-all "/" on the admin host: 404 everywhere (until the admin module adds paths). */
void srv__notfound_register(h2o_pathconf_t *pathconf);

/* ---- modules (extension points) ---- */
#define SRV_MAX_MODULES 8
struct srv_module {
    const char *name;
    /* Main thread, before the loop threads start: register paths. 0, or -1 with a one-line
     * error in err (serve then exits with a configuration error). */
    int (*init)(struct srv *s, int idx, char *err, size_t errlen);
    /* Main thread, before init and before privileges are dropped ([server] user): read
     * what only the starting user may read (keys, tokens); start no thread here. 0 or -1. */
    int (*secrets)(struct srv *s, int idx, char *err, size_t errlen);
    /* Each loop thread, before it accepts connections. */
    void (*thread_start)(struct srv_thread *t, int idx);
    /* Each loop thread, when a graceful stop starts (listeners are closed already). */
    void (*thread_stopping)(struct srv_thread *t, int idx);
    /* Each loop thread, after it drained, before its h2o context is disposed. */
    void (*thread_stop)(struct srv_thread *t, int idx);
    /* Main thread, after the loop threads have exited. */
    void (*fini)(struct srv *s, int idx);
};
/* The modules server.c runs, NULL-terminated. Declare yours here:
 *   extern const struct srv_module srv_report_module; */
extern const struct srv_module *const srv__modules[];
/* intake.c: report intake (POST at each [reports] path, the writer thread). */
extern const struct srv_module srv_report_module;
/* admin.c: the admin listener (API, dashboard, /metrics) and the self-check thread. */
extern const struct srv_module srv_admin_module;
/* acme_sched.c: certificates by ACME for every hosted domain ([acme] directory). */
extern const struct srv_module srv_acme_module;
/* mail_poll.c: the IMAP poll ([mail] imap), and its lines of /metrics (none when it is off). */
extern const struct srv_module srv_mail_module;
struct admin_buf;
void srv__mail_metrics_write(struct admin_buf *b);

/* ---- metrics.c: counters for /metrics (admin listener); lock-free, any thread ---- */
enum srv_endpoint {
    SRV_EP_POLICY = 0, /* GET/HEAD /.well-known/mta-sts.txt (and its 404/405) */
    SRV_EP_REPORT,     /* POST [reports] path */
    SRV_EP_API,        /* /api/v1/... */
    SRV_EP_DASHBOARD,  /* / on the admin listener */
    SRV_EP_METRICS,    /* /metrics */
    SRV_EP_OTHER,      /* anything else */
    SRV_EP__N
};
enum srv_report_outcome {
    SRV_REPORT_STORED = 0,   /* 201 */
    SRV_REPORT_DUPLICATE,    /* 200 */
    SRV_REPORT_INVALID,      /* 400 */
    SRV_REPORT_TOO_LARGE,    /* 413 */
    SRV_REPORT_MEDIA_TYPE,   /* 415 */
    SRV_REPORT_NOT_HOSTED,   /* 422 */
    SRV_REPORT_RATE_LIMITED, /* 429 */
    SRV_REPORT_UNAVAILABLE,  /* 503 */
    SRV_REPORT__N
};
/* Count one answered request (any thread; lock-free). Status outside 100-599 counts as 0. */
void srv_metrics_count_request(enum srv_endpoint ep, int status);
/* Count one report POST by outcome. */
void srv_metrics_count_report(enum srv_report_outcome o);
/* A policy reload finished (ok = 0 when it failed as a whole); gauges after it. */
void srv_metrics_count_reload(int ok);
void srv_metrics_set_policies(int64_t served, int64_t broken);
/* The writer thread, after the commit that stored report `r` as row `id` (a new report, not
 * a duplicate): adds it to the per-domain series of /metrics (metrics_reports.c). Cheap: a
 * lookup per policy-domain under a mutex; unhosted domains are ignored. */
struct report;
void srv_metrics_report_stored(const struct report *r, int64_t id);
/* Stored reports were deleted (pruned): the /metrics sums are computed again from the tables
 * by the metrics thread within seconds (one aggregate query, off the event loops). Any
 * thread; cheap. */
void srv_metrics_reload(void);

/* ---- acme_stats.c: what the ACME scheduler did, for /metrics and the dashboard ---- */
/* Count one finished order by its outcome (an enum acme_status value; any thread). */
void srv_acme_count_order(int status);
/* Orders in flight: +1 when one starts, -1 when it ends (any thread). */
void srv_acme_inflight(int delta);
struct srv_acme_stats {
    uint64_t orders[8]; /* by enum acme_status: [0] issued, then each failure kind */
    int in_flight;      /* orders running now */
    int in_flight_max;  /* the most ever running at once since start */
    int enabled;        /* 1 when [acme] directory is set and the scheduler runs */
};
void srv_acme_stats(struct srv_acme_stats *out);
void srv_acme_set_enabled(int on);
/* The ACME scheduler wrote `domain`'s acme_state row (hosted_acme_put, hosted_acme_installed):
 * re-read that row through h (the caller's handle and thread) into the rows /metrics and the
 * dashboard show, so that they show it at once, not at the next refresh (metrics_acme.c). */
void srv_metrics_acme_changed(struct hosted *h, const char *domain);

/* ---- server.c: the running server ---- */
struct srv_thread {
    struct srv *srv;
    int idx;
    pthread_t tid;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_context_t ctx_acme; /* the port-80 listener's (on globalconf_acme), when it runs */
    h2o_accept_ctx_t accept_public, accept_admin, accept_acme;
    h2o_socket_t **socks;            /* this thread's listening sockets (one per srv_listener) */
    const struct srv_snapshot *snap; /* what this thread serves now */
    size_t n_conns;                  /* open connections accepted by this thread */
    int stopping;
    uint64_t stop_deadline; /* ms, h2o_now() */
    h2o_multithread_receiver_t ctl;
    struct srv_ctl_msg {
        h2o_multithread_message_t super;
        int kind; /* 1 = swap snapshot, 2 = stop */
    } msg_swap, msg_stop;
    void *module_data[SRV_MAX_MODULES];
};

struct srv {
    const struct stsd_config *cfg;
    h2o_globalconf_t globalconf;
    h2o_globalconf_t globalconf_acme;                     /* host_acme's: srv__acme_conf_init */
    h2o_hostconf_t *host_public, *host_admin, *host_acme; /* host_acme: port 80, or NULL */
    h2o_hostconf_t *hosts_public[2], *hosts_admin[2], *hosts_acme[2]; /* NULL-terminated */
    SSL_CTX *ssl_ctx;
    struct hosted *hosted; /* the control thread's: policy table, directories to watch */
    char *db_path;
    struct srv_listener *listeners;
    size_t n_listeners;
    struct srv_thread *threads;
    int n_threads;
    _Atomic(const struct srv_snapshot *) current;
    atomic_int pending_acks;
    atomic_int threads_running;
    h2o_access_log_filehandle_t *access_log;
    /* the certificates read before the privilege drop, for the first reload */
    struct srv_cert_table *first_certs;
    void *module_state[SRV_MAX_MODULES];
};

/* The loop thread running the caller, or NULL on any other thread. */
struct srv_thread *srv_current(void);
/* 1 if `domain` (lowercase, no trailing dot) has a policy in the snapshot being served. Any
 * thread (the report parse pool, the writer): it reads the current snapshot under a lock the
 * control thread takes before it releases a replaced one. */
int srv_domain_hosted(struct srv *s, const char *domain);
/* An h2o pathconf on the public HTTPS host / the admin host (call from a module's init). */
h2o_pathconf_t *srv_public_path(struct srv *s, const char *path);
h2o_pathconf_t *srv_admin_path(struct srv *s, const char *path);

/* End worker threads (parse_pool.c): under mu, set *stop and wake every waiter of cv and of
 * cv2 (may be NULL); join the n threads tids; destroy mu, cv and cv2. */
void srv__threads_end(pthread_mutex_t *mu, atomic_int *stop, pthread_cond_t *cv,
                      pthread_cond_t *cv2, pthread_t *tids, int n);

#endif
