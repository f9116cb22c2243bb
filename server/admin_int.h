/*
 * admin_int.h - the admin listener (JSON API, dashboard, /metrics), the request counters,
 * the scheduled self-checks and the alert webhook; shared between server/admin*.c,
 * metrics.c, selfcheck.c and webhook.c only. The counter API the other handlers call is in
 * server_int.h (srv_metrics_*).
 *
 * How an admin request travels: the loop thread checks the token (constant time), copies
 * method, path, query and cookie into a job and hands it to a small pool of worker threads
 * (ADMIN_WORKERS). Each worker owns one SQLite connection (WAL: readers never wait for the
 * writer thread and the writer never waits for them) and renders the whole answer; the job
 * comes back to the loop thread through h2o_multithread_send_message, which sends it. The
 * event loop never runs a query.
 */
#ifndef STSD_SERVER_ADMIN_INT_H
#define STSD_SERVER_ADMIN_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/config.h"
#include "server/server_int.h"

struct db;
struct json_t;

#define ADMIN_WORKERS 2
#define ADMIN_MAX_QUERY 2048        /* bytes of query string accepted */
#define ADMIN_MAX_PATH 1024         /* bytes of path accepted */
#define ADMIN_QUEUE_MAX 256         /* admin jobs waiting for a worker; 503 beyond */
#define ADMIN_TOKEN_BYTES 32        /* random bytes in a generated token (64 hex digits) */
#define ADMIN_TOKEN_MAX 256         /* longest token accepted from the token file */
#define ADMIN_COOKIE "stsd_session" /* holds a session id (admin_session.c), never the token */
#define ADMIN_SESSION_BYTES 32      /* random bytes in a session id: 256 bits */
#define ADMIN_SESSION_HEX (2 * ADMIN_SESSION_BYTES)
#define ADMIN_SESSIONS_MAX 1024 /* browser sessions kept at once; the oldest is evicted */
#define ADMIN_LIST_LIMIT 1000   /* default and maximum `limit` of /api/v1/reports */
#define ADMIN_CHECK_HISTORY 50  /* default `limit` of /api/v1/checks history */

/* ---------------------------------------------------------------- admin.c */

/* The browser sessions (admin_session.c); slots with expires <= now are free. */
struct admin_sessions {
    pthread_mutex_t mu;
    int64_t ttl; /* [admin] session_ttl, seconds */
    struct {
        unsigned char id[ADMIN_SESSION_BYTES];
        int64_t expires; /* srv__admin_session_now(): refused from then on */
    } v[ADMIN_SESSIONS_MAX];
};

/* Everything a worker needs to answer; read-only once the server runs (but the sessions,
 * which have their own lock). */
struct admin_env {
    const struct stsd_config *cfg;
    char token[ADMIN_TOKEN_MAX + 1];
    size_t token_len;
    struct admin_sessions *sessions; /* NULL: no cookie is accepted */
};

/* What the loop thread serves for a domain, copied from its snapshot for the worker. */
struct admin_served {
    char domain[254];
    char id[33]; /* "" when the database was unavailable at the reload */
    int stale;   /* the file on disk is broken: this is its last good version */
    int mode;    /* enum policy_mode of the text served */
};
/* A policy file that does not parse, as the loop thread's table knows it (with or without a
 * last good version served). */
struct admin_invalid {
    char domain[254];
    char *file;
    int line; /* 0: no line (unreadable) */
    char *reason;
};

/* The methods the admin listener takes (others: 405 at once). */
enum admin_method { ADMIN_GET = 0, ADMIN_HEAD, ADMIN_PUT, ADMIN_POST, ADMIN_DELETE };
#define ADMIN_METHODS_ALLOWED "GET, HEAD, PUT, POST, DELETE"
/* Request body caps, applied on the loop thread before the body is copied (413 beyond):
 * a certificate upload (PEM chain and key, JSON-free) may be larger than any JSON or form
 * body. */
#define ADMIN_MAX_JSON (64 * 1024)
#define ADMIN_MAX_UPLOAD (1024 * 1024)

struct hosted;

struct admin_request {
    /* the worker's handle on the hosted state: its database (the `db` handed to the
     * handlers), its certificate cache; used by this request's worker only */
    struct hosted *hosted;
    /* the served policy table (sorted by domain); have_served 0 outside a server */
    const struct admin_served *served;
    size_t n_served;
    int have_served;
    const struct admin_invalid *invalid; /* the files that do not parse, sorted by domain */
    size_t n_invalid;
    int head;          /* HEAD: answer without a body */
    const char *path;  /* without the query */
    const char *query; /* after '?', NULL when none */
    time_t now;
    enum admin_method method;
    const char *body; /* PUT/POST/DELETE: the request body (NUL-terminated copy), else NULL */
    size_t body_len;
    const char *content_type; /* of the body, "" when none */
    /* the session id from the cookie (hex, "" without one): what the forms' CSRF token is
     * bound to */
    char session[ADMIN_SESSION_HEX + 1];
};

struct admin_response {
    int status;
    const char *content_type;
    char *body; /* malloc'd */
    size_t len;
    const char *content_disposition; /* for raw reports */
    const char *allow;               /* with 405: the methods the resource takes */
    char *location;                  /* with 201/303: malloc'd */
};

enum admin_auth {
    ADMIN_AUTH_OK = 0,
    ADMIN_AUTH_MISSING, /* 401, WWW-Authenticate: Bearer realm="stsd" */
    ADMIN_AUTH_INVALID, /* 401, ... error="invalid_token" (RFC 6750 §3.1) */
    ADMIN_AUTH_SESSION, /* 401: the session cookie names no live session (expired, evicted) */
};

/* Read the token file, creating it (0600, 64 random hex digits) when missing. 0 or -1. */
int srv__admin_token_load(struct admin_env *env, const char *path, char *err, size_t errlen);

/* ---------------------------------------------------------------- admin_parse.c */

/*
 * Decide whether a request carries the token: `Authorization: Bearer T` first, else a
 * `token=` query parameter (*from_query is set then: the answer is a 303 that sets a session
 * cookie), else the session cookie (a live session in env->sessions).
 * Compares with CRYPTO_memcmp over the full length.
 */
enum admin_auth srv__admin_auth(const struct admin_env *env, const char *authorization,
                                size_t authlen, const char *cookie, size_t cookielen,
                                const char *query, size_t querylen, int *from_query);
/* Query string parameters: at most ADMIN_MAX_PARAMS, percent-decoded, each value capped. */
#define ADMIN_MAX_PARAMS 16
struct admin_params {
    size_t n;
    struct {
        char name[32];
        char value[256];
    } v[ADMIN_MAX_PARAMS];
};
/* Parse `query` (may be NULL). -1 on a malformed query (too many, too long, bad %xx). */
int srv__admin_params_parse(const char *query, struct admin_params *out);
const char *srv__admin_param(const struct admin_params *p, const char *name);
/* The admin method of an HTTP method name (enum admin_method), -1 for any other. */
int srv__admin_method(const char *m, size_t len);
/* The largest body accepted for a path: ADMIN_MAX_UPLOAD for ".../certificate" (the API's and
 * the form's upload), else ADMIN_MAX_JSON. */
size_t srv__admin_body_cap(const char *path, size_t len);
/* The session id (ADMIN_SESSION_HEX hex digits) of the session cookie in a Cookie header;
 * -1 and "" when there is none of that form. Says nothing about whether it is live. */
int srv__admin_cookie_session(const char *cookie, size_t len, char out[ADMIN_SESSION_HEX + 1]);
/* One field of an application/x-www-form-urlencoded body, percent-decoded ('+' a space);
 * malloc'd, NULL when absent, malformed (bad %xx, a NUL byte) or longer than cap bytes. */
char *srv__admin_form_field(const char *body, size_t len, const char *name, size_t cap);

/* ---------------------------------------------------------------- admin_session.c */

void srv__admin_sessions_init(struct admin_sessions *t, int64_t ttl);
/* The clock sessions expire by: CLOCK_MONOTONIC seconds (setting the date moves nothing). */
int64_t srv__admin_session_now(void);
void srv__admin_sessions_destroy(struct admin_sessions *t);
/* A new session expiring at now + ttl (a free or expired slot, else the oldest session is
 * evicted); its id in hex (the cookie value) into out. 0, or -1 without randomness. */
int srv__admin_session_new(struct admin_sessions *t, int64_t now, char out[ADMIN_SESSION_HEX + 1]);
/* 1 when the cookie value names a session that has not expired at `now`. Every slot is
 * compared (CRYPTO_memcmp) whatever matches. */
int srv__admin_session_valid(struct admin_sessions *t, const char *value, size_t len, int64_t now);
/* The query string without its token parameters (the redirect target), into out; returns
 * its length. out of ADMIN_MAX_QUERY + 1 bytes holds any accepted query. */
size_t srv__admin_query_without_token(const char *query, size_t qlen, char *out, size_t outsz);

/* The dashboard forms' CSRF token: HMAC-SHA256 of the session id (hex) under a per-process
 * random key (made on first use, never stored), in hex. A token is bound to one session and
 * dies with the process. 0, or -1 without randomness or without a session id. */
#define ADMIN_CSRF_HEX 64
int srv__admin_csrf(const char *session, char out[ADMIN_CSRF_HEX + 1]);
/* 1 when `token` is the CSRF token of `session` (compared in constant time), else 0. */
int srv__admin_csrf_valid(const char *session, const char *token);

/* ---------------------------------------------------------------- admin_api.c */

/* Answer one authorised request (API, dashboard or metrics) with the worker's db. */
void srv__admin_handle(const struct admin_env *env, struct db *db, const struct admin_request *rq,
                       struct admin_response *rs);
/* 0 when every parameter is one of `allowed` (NULL-terminated; "token" is always allowed),
 * else -1 with msg naming the first unknown one. */
int srv__admin_params_allowed(const struct admin_params *p, const char *const *allowed, char *msg,
                              size_t msglen);
/* A JSON error body {"error": msg} with this status. */
void srv__admin_error(struct admin_response *rs, int status, const char *msg);

/* The report window [since, until): since (default 30 days ago) and until (default now),
 * exactly like `stsd reports`. -1 with msg filled on bad input. */
int srv__admin_window(const struct admin_params *p, time_t now, int64_t *since, int64_t *until,
                      char *msg, size_t msglen);

/* ---------------------------------------------------------------- admin_domains.c */

/* A time as an RFC 3339 JSON string; a string or JSON null. New references. */
struct json_t *srv__json_time(int64_t t);
struct json_t *srv__json_str(const char *s);

/* A hosted domain as the API and the dashboard show it. */
struct admin_domain {
    char *domain;
    int valid;
    char *error; /* first validation error / read error, NULL when valid */
    char *text;  /* the file content */
    int mode;    /* enum policy_mode, -1 when invalid */
    long max_age;
    char **mx;
    size_t n_mx;
    char policy_id[33]; /* "" when the content has no recorded id */
    /* from the latest stored check */
    int checked;
    int64_t checked_at;
    char *dns_id; /* NULL when DNS publishes none */
    /* certificate for mta-sts.<domain> in cert_dir */
    int has_cert;
    char *cert_file;
    char *cert_issuer;
    int64_t cert_not_after;
    char cert_source[8]; /* "acme" or "file" */
    /* what the server serves for it (see admin_request.have_served) */
    int have_served, served, stale;
    char served_id[33];
};
/* Every hosted domain (sorted), or only `only` (then *n is 0 when it is not hosted), read
 * through rq->hosted (env and db are not used). */
int srv__admin_domains(const struct admin_env *env, struct db *db, const char *only,
                       const struct admin_request *rq, struct admin_domain **out, size_t *n);
void srv__admin_domains_free(struct admin_domain *v, size_t n);
struct json_t *srv__admin_domain_json(const struct admin_domain *d, time_t now);
/* The id DNS must publish: the served one when known, else the one recorded for the file. */
const char *srv__admin_domain_id(const struct admin_domain *d);
/* The loop thread's record of `domain`'s file not parsing, or NULL. */
const struct admin_invalid *srv__admin_invalid_find(const struct admin_request *rq,
                                                    const char *domain);

/* ---------------------------------------------------------------- admin_certs.c */

/*
 * The certificates of cert_dir indexed by every name they serve (file name and SAN dNSNames),
 * so that the certificate of each of 10,000 domains is a binary search. Each worker thread
 * keeps one, rebuilt from hosted_certs() when cert_dir's mtime changed (a certificate was
 * added, removed or installed by rename) or ADMIN_CERTS_TTL seconds after it was built (a
 * file rewritten in place: up to 5 minutes late). Rebuilding 10,000 takes tens of ms.
 */
#define ADMIN_CERTS_TTL 300
struct admin_cert_fact {
    char *file, *issuer;
    int64_t not_after;
    char source[8]; /* "acme" or "file" (hosted_cert.source) */
};
struct admin_cert_name {
    char *name;  /* lowercase */
    size_t cert; /* into certs */
};
struct admin_certs_view {
    struct admin_cert_fact *certs;
    size_t n;
    struct admin_cert_name *names; /* sorted by name */
    size_t n_names;
    struct timespec dir_mtime;
    int64_t built; /* CLOCK_MONOTONIC seconds */
};
/* This thread's index, up to date as said above; NULL when cert_dir cannot be read. */
const struct admin_certs_view *srv__admin_certs_view(struct hosted *h);
/* The certificate serving mta-sts.<domain>: one named so, else a wildcard *.<domain> (RFC
 * 6125 §6.4.3); the latest not-after when several do. NULL when none. */
const struct admin_cert_fact *srv__admin_certs_find(const struct admin_certs_view *cv,
                                                    const char *domain);

/* ---------------------------------------------------------------- admin_dashboard.c */

/* A growing string buffer for the HTML and text renderers (capped at ADMIN_MAX_BODY). */
#define ADMIN_MAX_BODY (16 * 1024 * 1024)
struct admin_buf {
    char *p;
    size_t len, cap;
};
void srv__buf_printf(struct admin_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s with & < > " ' escaped for HTML text and attribute values. */
void srv__buf_html(struct admin_buf *b, const char *s);
/* Append s percent-encoded for a URL query value (everything but A-Z a-z 0-9 - . _ ~). */
void srv__buf_url(struct admin_buf *b, const char *s);
/* The page frame: <head> with the inline CSS, the navigation; the footer, then the page
 * becomes the answer (text/html, `status`) and b is emptied. */
void srv__page_begin(struct admin_buf *b, const char *title);
void srv__page_end(struct admin_buf *b, struct admin_response *rs, int status);
/* Refuse (400) a parameter not in `allowed` (NULL-terminated; "token" is always allowed) and,
 * with since not NULL, a bad since/until window. 0, or -1 with rs filled. */
int srv__page_params(const struct admin_params *p, const char *const *allowed,
                     const struct admin_request *rq, int64_t *since, int64_t *until,
                     struct admin_response *rs);
/* A card: label and value, `cls` ok/warn/bad or NULL, data-k="id" on the value. */
void srv__card(struct admin_buf *b, const char *id, const char *label, const char *cls,
               const char *value);
void srv__card_int(struct admin_buf *b, const char *id, const char *label, const char *cls,
                   int64_t v);
/* "99.12%", or "-" without sessions. */
void srv__fmt_rate(char *buf, size_t n, int64_t ok, int64_t failed);
struct report_summary;
/* Sessions per day (the summary grouped by day) and failures by result type, MX, reporter. */
void srv__report_charts(struct admin_buf *b, const struct report_summary *s);
/* Whole days until not_after (negative once expired: days since, rounded up). Pure. */
int64_t srv__days_left(int64_t not_after, time_t now);
/* 1 when a certificate with this many days left needs attention (under 14). Pure. */
int srv__cert_soon(int64_t days_left);

/* ---------------------------------------------------------------- admin_overview.c */

/* The front page "/": totals, then every hosted domain, those that need attention first,
 * ?q= (substring of the domain), ?page= (ADMIN_PAGE_SIZE rows), ?since=/?until= (reports). */
#define ADMIN_PAGE_SIZE 50
void srv__admin_dashboard(const struct admin_env *env, struct db *db, const struct admin_params *p,
                          const struct admin_request *rq, struct admin_response *rs);

/* What needs attention for one domain (a bit set). */
#define ADMIN_ATT_SESSIONS 0x1 /* failed sessions reported in the window */
#define ADMIN_ATT_CERT 0x2     /* no certificate for mta-sts.<d>, or under 14 days left */
#define ADMIN_ATT_STALE_ID 0x4 /* the latest check saw another DNS id than the one served */
#define ADMIN_ATT_CHECK 0x8    /* the latest check has errors */
#define ADMIN_ATT_FILE 0x10    /* the policy file is broken (a last good version may be served) */
#define ADMIN_ATT_ACME 0x20    /* ACME orders for mta-sts.<d> keep failing (srv__acme_failing) */
struct admin_row {
    const char *domain;
    const char *id; /* the id served ("" unknown) */
    int stale;
    int broken; /* the file never parsed: nothing is served */
    int mode;   /* enum policy_mode served; -1 when nothing is */
    int checked, check_errors, check_warnings;
    int64_t checked_at;
    const char *dns_id; /* from the latest check; NULL when DNS published none */
    int has_cert;
    int64_t cert_not_after;
    int acme_failing;                    /* srv__metrics_acme_failing */
    int64_t reports, successful, failed; /* in the window */
    unsigned attention;                  /* ADMIN_ATT_* */
};
/* The attention bits of a row whose facts are filled. Pure. */
unsigned srv__admin_attention(const struct admin_row *r, time_t now);
/* Order rows: those serving nothing (broken) first, then those with attention (more reasons
 * first), then by domain. Pure. */
void srv__admin_rows_sort(struct admin_row *v, size_t n);
/* 1 when domain contains q (q lowercase ASCII; "" matches all). Pure. */
int srv__admin_row_match(const char *domain, const char *q);
/* The page range [*first, *first + *count) of `total` rows for 1-based `page` (clamped to
 * 1..pages); returns the number of pages (at least 1). Pure. */
size_t srv__admin_page(size_t total, size_t page, size_t size, size_t *first, size_t *count,
                       size_t *page_out);

/* ---------------------------------------------------------------- admin_domain_page.c */

/* The page of each hosted domain: ADMIN_DOMAIN_PAGE<domain>. */
#define ADMIN_DOMAIN_PAGE "/domains/"
/* /domains/{d}: everything about one hosted domain. `name` is the path after /domains/. */
void srv__admin_domain_page(const struct admin_env *env, struct db *db, const char *name,
                            const struct admin_params *p, const struct admin_request *rq,
                            struct admin_response *rs);

/* ---------------------------------------------------------------- admin_report_page.c */

/* The page of each stored report: ADMIN_REPORT_PAGE<id>. */
#define ADMIN_REPORT_PAGE "/reports/"
/* Reports listed at most on a domain page (the latest of the window). */
#define ADMIN_REPORT_ROWS 50
/* The latest reports of `domain` with start in [since, until): id (a link to its page),
 * start, organisation, source, sessions, DKIM result and conflict marks. */
void srv__admin_report_list(struct admin_buf *b, struct db *db, const char *domain, int64_t since,
                            int64_t until);
/* /reports/{id}: one stored report (its facts, DKIM result, conflict marks, policies). */
void srv__admin_report_page(struct db *db, const char *id_text, struct admin_response *rs);

struct hosted_acme;
/* The certificate card of a domain page: file, issuer, not-after, days left, source (acme,
 * file or none) and, when `acme_on`, the ACME row's state, consecutive failures, last error
 * (HTML-escaped), next attempt and last success (`acme` NULL or zeroed: never ordered). */
void srv__admin_cert_card(struct admin_buf *b, const struct admin_domain *d,
                          const struct hosted_acme *acme, int acme_on, time_t now);

/* ---------------------------------------------------------------- admin_checker.c */

/* /check?domain=x: run the checker on any domain with [checks]' options and show it all. */
void srv__admin_checker_page(const struct admin_env *env, const struct admin_params *p,
                             const struct admin_request *rq, struct admin_response *rs);
/* The findings of one domain of the checker's JSON as a table (severity, id, subject,
 * message, fix), in the checker's order. */
void srv__check_findings_html(struct admin_buf *b, const struct json_t *domain_result);

/* ---------------------------------------------------------------- admin_metrics.c */

void srv__admin_metrics(const struct admin_env *env, struct db *db, const struct admin_request *rq,
                        struct admin_response *rs);
struct srv__metrics_domain;
struct srv__acme_brief;
/* The ACME series (srv_acme_stats: enabled, orders by result, in flight) and, for each hosted
 * domain of v, the served certificate's days left and source (acme, file or none, from the
 * index cv), its consecutive ACME failures and next attempt (from rows, sorted). */
void srv__metrics_acme_write(struct admin_buf *b, const struct srv_acme_stats *st,
                             const struct srv__metrics_domain *v, size_t n,
                             const struct admin_certs_view *cv, const struct srv__acme_brief *rows,
                             size_t nr, time_t now);

/* ---------------------------------------------------------------- metrics.c */

struct srv__metrics_snapshot {
    uint64_t requests[8][600]; /* [enum srv_endpoint][status] */
    uint64_t reports[16];      /* [enum srv_report_outcome] */
    uint64_t reloads_ok, reloads_failed;
    int64_t policies, policies_broken;
    uint64_t webhooks_sent, webhooks_failed, checks_run;
};
void srv__metrics_snapshot(struct srv__metrics_snapshot *s);
const char *srv__metrics_endpoint_name(int ep);
const char *srv__metrics_outcome_name(int o);

/* ---------------------------------------------------------------- metrics_reports.c */

/* result_type label values: the RFC 8460 §4.3 list (index 0..10) and "other" (11). */
#define SRV_RESULT_TYPES 12
/* The label index of a result type as a report spells it (case-insensitive); any other
 * string, or NULL, is "other". Pure. */
int srv__metrics_result_type(const char *rt);
const char *srv__metrics_result_type_name(int i);
/* One hosted domain's sums over every stored report. */
struct srv__metrics_domain {
    char *domain;
    int64_t successful, failed;
    int64_t by_type[SRV_RESULT_TYPES]; /* failed sessions of failure details */
};
/* Start the thread that loads the sums once (off the event loops) and then adds what other
 * processes store; stop it. */
void srv__metrics_start(const struct stsd_config *cfg);
void srv__metrics_stop(void);
/* The policy table was rebuilt: the thread re-reads the hosted domains (and reloads the sums
 * when they changed). */
void srv__metrics_policies_changed(void);
/* A copy of the hosted domains' sums (sorted) and the number of stored reports; waits for
 * the first load (at most a few seconds). -1 when there are none to show. */
int srv__metrics_domains(struct srv__metrics_domain **out, size_t *n, int64_t *reports);
void srv__metrics_domains_free(struct srv__metrics_domain *v, size_t n);
void srv__metrics_count_webhook(int ok);
void srv__metrics_count_check(void);

/* ---------------------------------------------------------------- metrics_acme.c */

/* What /metrics and the overview need of one acme_state row. */
struct srv__acme_brief {
    char *domain;
    char state[12]; /* "", "pending", "ok", "failed" */
    int failures;   /* consecutive failed orders */
    int64_t next_attempt;
    uint64_t seq; /* 0: read by a refresh; else the order of srv_metrics_acme_changed calls */
};
/* 1 when a domain's ACME orders keep failing: at least one failure since the last success
 * (whether the row says "failed" or a retry is "pending"). Pure. */
int srv__acme_failing(const char *state, int failures);
/* Re-read every acme_state row through h (the metrics thread, every few seconds); with
 * [acme] directory unset the cache is emptied instead. A failed read keeps the last rows. */
void srv__metrics_acme_refresh(struct hosted *h);
void srv__metrics_acme_forget(void);
/* A copy of the cached rows, sorted by domain (srv__acme_briefs_free). */
void srv__metrics_acme_copy(struct srv__acme_brief **out, size_t *n);
void srv__acme_briefs_free(struct srv__acme_brief *v, size_t n);
/* The row of `domain` in v (sorted), or NULL. */
const struct srv__acme_brief *srv__acme_brief_find(const struct srv__acme_brief *v, size_t n,
                                                   const char *domain);
/* 1 when the cached row of `domain` says srv__acme_failing. */
int srv__metrics_acme_failing(const char *domain);

/* ---------------------------------------------------------------- webhook.c */

/*
 * The alert webhook: a queue and one thread that POSTs JSON bodies to [alerts] webhook with
 * libcurl, retrying a failed delivery with exponential backoff (1 s, 2 s, 4 s ... capped at
 * WEBHOOK_MAX_BACKOFF, WEBHOOK_MAX_ATTEMPTS attempts). Enqueueing never blocks: a full queue
 * drops a body and logs it (srv__webhook_post_low says which go first).
 */
#define WEBHOOK_QUEUE_MAX 64
#define WEBHOOK_MAX_ATTEMPTS 6
#define WEBHOOK_MAX_BACKOFF 60
#define WEBHOOK_TIMEOUT 10 /* seconds per attempt */
struct srv_webhook;
/* allow_private 0: connections to non-public addresses (check_addr_private) are refused and
 * logged (alert.refused), whatever the URL's host name resolves to. */
struct srv_webhook *srv__webhook_new(const char *url, int allow_private);
/* Queue a body (takes ownership of the malloc'd JSON text). */
void srv__webhook_post(struct srv_webhook *w, char *json);
/* The same for a body that may go first when the queue is full (failure-rate alerts, which
 * anyone can cause with reports): a full queue drops the oldest such body, or this one, and
 * keeps the others (regressions, certificates). */
void srv__webhook_post_low(struct srv_webhook *w, char *json);
/* Deliveries waiting or being retried. */
size_t srv__webhook_pending(struct srv_webhook *w);
/* Stop the thread (pending deliveries are abandoned and logged). NULL is a no-op. */
void srv__webhook_free(struct srv_webhook *w);

/* ---------------------------------------------------------------- selfcheck.c */

/* Start the self-check and alert thread when [checks] interval > 0 or [alerts] webhook is
 * set (no-op otherwise); it reads and stores what is hosted through its own hosted/ handle.
 * Stop it (waits at most 3 s for a check in progress). */
void srv__selfcheck_start(const struct stsd_config *cfg);
void srv__selfcheck_stop(void);
/* Hand a webhook body (malloc'd; taken) to the running self-check thread's webhook; freed
 * when there is none. Any thread may call it. */
void srv__selfcheck_post(char *body);
/* When the i-th of n domains is due in an interval that started at start_ms: i * interval / n
 * after the start, so that the checks are spread evenly over the interval. */
int64_t srv__selfcheck_slot_ms(int64_t start_ms, int64_t interval_ms, size_t i, size_t n);
/*
 * Compare a new check with the previous one: a regression is an error finding (id +
 * subject) in `cur` absent from `prev`. Returns a new JSON body or NULL when nothing
 * regressed.
 */
struct db_check;
struct db_check_finding;
char *srv__selfcheck_regression(const char *domain, const struct db_check *cur,
                                const struct db_check_finding *cf, size_t ncf,
                                const struct db_check_finding *pf, size_t npf, int64_t prev_id);

/* ---------------------------------------------------------------- alerts.c */

/* The alert scans of the self-check thread ([alerts]): failure rates in new reports, new
 * conflicting copies, certificates near expiry, the daily digest. */
struct srv__alerts;
struct hosted;
struct srv__alerts *srv__alerts_new(const struct stsd_config *cfg, struct srv_webhook *hook);
/* One pass at `now` (the thread calls it every few seconds). */
void srv__alerts_scan(struct srv__alerts *a, struct hosted *h, time_t now);
void srv__alerts_free(struct srv__alerts *a);
/* The daily digest body for the UTC day before `now` (NULL when the database fails): the
 * reports of the domains h hosts, the latest checks, the certificates. */
char *srv__selfcheck_digest(struct hosted *h, time_t now);
/* A JSON body: o serialised compactly (o is released). */
char *srv__json_body(struct json_t *o);

/* ---------------------------------------------------------------- management (admin_routes.c,
 * admin_manage.c, admin_forms.c) */

/* What a request to the management routes is (srv__admin_route). */
enum admin_route {
    ADMIN_ROUTE_NONE = 0,    /* not a management request: the read-only routes answer it */
    ADMIN_ROUTE_METHOD,      /* a known resource, another method: 405 with *allow */
    ADMIN_ROUTE_POLICY,      /* PUT /api/v1/domains/{d}/policy */
    ADMIN_ROUTE_ENFORCE,     /* POST /api/v1/domains/{d}/enforce */
    ADMIN_ROUTE_WITHDRAW,    /* DELETE /api/v1/domains/{d}[?now=1] */
    ADMIN_ROUTE_CERTIFICATE, /* PUT /api/v1/domains/{d}/certificate */
    ADMIN_ROUTE_CHECK,       /* POST /api/v1/check */
    ADMIN_ROUTE_AUDIT,       /* GET /api/v1/audit[?domain=&limit=] */
    ADMIN_ROUTE_FORM,        /* POST /forms/{action} (the dashboard's forms) */
    ADMIN_ROUTE_FORM_PAGE,   /* GET /forms/{action}?domain=D: that form on a page of its own */
};
/* The route of a path and method; name gets the {d} or {action} segment as sent (not yet
 * validated). Pure. */
enum admin_route srv__admin_route(const char *path, enum admin_method m, char name[256],
                                  const char **allow);
/* Answer a management request; 0 when it is none (the caller answers it). */
int srv__admin_manage(const struct admin_env *env, const struct admin_request *rq,
                      const struct admin_params *p, struct admin_response *rs);

/* The JSON bodies (pure): 0, or -1 with the field that is wrong ("" for the body as a whole:
 * not JSON, not an object) and the reason. Unknown keys are refused by name. */
#define ADMIN_MAX_MX 64 /* mx entries in one policy */
#define ADMIN_MAX_MX_TEXT "64"
struct admin_policy_body {
    char mode[16];
    char **mx; /* malloc'd */
    size_t n_mx;
    long max_age; /* -1 when negative */
};
int srv__admin_policy_body(const char *body, size_t len, struct admin_policy_body *out,
                           char field[32], char *err, size_t errlen);
void srv__admin_policy_body_free(struct admin_policy_body *b);
/* {"force": bool}, or an empty body (force false). */
int srv__admin_enforce_body(const char *body, size_t len, int *force, char field[32], char *err,
                            size_t errlen);
/* {"domain": "..."} */
int srv__admin_check_body(const char *body, size_t len, char domain[256], char field[32], char *err,
                          size_t errlen);

/* Answer with a JSON value and this status (takes the reference). */
void srv__admin_reply(struct admin_response *rs, int status, struct json_t *v);
/* 422 {"error": msg, "field": field}. */
void srv__admin_reply_field(struct admin_response *rs, const char *field, const char *msg);

/*
 * The actions, shared by the API and the forms. Each answers rs as the API does (the forms
 * turn a 2xx into a 303 back to the domain's page). `actor` goes into the audit row ("api",
 * "dashboard"). A change is served by every loop thread before these return.
 *   policy:      201 new domain, 200 changed or unchanged; 422 {"error","field"}
 *   enforce:     200 (mode enforce, a new id); 409 {"error","reasons":[{"id","message"}]}
 *                when `stsd policy advise` would not advise it (unless force)
 *   withdraw:    202 {"mode":"none","policy_id","withdraw_until"} (RFC 8461 §8.3); at_once:
 *                200 {"removed":true}
 *   certificate: 200 {"host","file","not_after",...}; 422 with the reason
 *   check:       200, the JSON of `stsd check --json`; 503 when no resolver answered
 * An unknown domain is 404, a malformed name 400 (422 "domain" when setting a policy).
 */
void srv__manage_policy(const struct admin_env *env, const struct admin_request *rq,
                        const char *domain, const char *mode, const char *const *mx, size_t n_mx,
                        long max_age, const char *actor, struct admin_response *rs);
void srv__manage_enforce(const struct admin_env *env, const struct admin_request *rq,
                         const char *domain, int force, const char *actor,
                         struct admin_response *rs);
void srv__manage_withdraw(const struct admin_env *env, const struct admin_request *rq,
                          const char *domain, int at_once, const char *actor,
                          struct admin_response *rs);
void srv__manage_certificate(const struct admin_env *env, const struct admin_request *rq,
                             const char *domain, const char *pem, size_t len, const char *actor,
                             struct admin_response *rs);
/* store: the dashboard's "check now" of a hosted domain (404 otherwise): the result is stored
 * as the domain's latest check; else any domain, nothing stored. */
void srv__manage_check(const struct admin_env *env, const struct admin_request *rq,
                       const char *domain, int store, struct admin_response *rs);

/*
 * The dashboard's forms (admin_forms.c). Each renders one <form method="post"> into b with
 * the session's CSRF token (srv__admin_csrf of rq->session) in a hidden field; on success the
 * POST answers 303 to ADMIN_DOMAIN_PAGE<domain>, a refused one an HTML page with the reason
 * (403 without a valid CSRF token: nothing changes). Bodies are capped (ADMIN_MAX_JSON; the
 * certificate form ADMIN_MAX_UPLOAD).
 */
#define ADMIN_DOMAIN_PAGE "/domains/"
/* Set the policy (mode, mx lines, max_age), filled with the current values (mode NULL: a new
 * domain, with a field for its name; domain is then ignored). */
void srv__form_policy(struct admin_buf *b, const char *csrf, const char *domain, const char *mode,
                      const char *const *mx, size_t n_mx, long max_age);
void srv__form_enforce(struct admin_buf *b, const char *csrf, const char *domain);
void srv__form_withdraw(struct admin_buf *b, const char *csrf, const char *domain);
void srv__form_certificate(struct admin_buf *b, const char *csrf, const char *domain);
void srv__form_check(struct admin_buf *b, const char *csrf, const char *domain);
/* Answer POST /forms/{action}. */
void srv__admin_form(const struct admin_env *env, const struct admin_request *rq,
                     const char *action, struct admin_response *rs);
/* GET /forms/{action}?domain=D: a page with just that form (filled with the domain's current
 * policy for "policy"; without domain, the form that adds one). */
void srv__admin_form_page(const struct admin_env *env, const struct admin_request *rq,
                          const char *action, const struct admin_params *p,
                          struct admin_response *rs);

#endif
