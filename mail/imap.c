/* imap.c - one pass of the IMAP pull over one libcurl connection: log in, make the done and
 * rejected folders, search the folder, fetch and store the messages in batches, and move each
 * batch's messages only after its commit. */
#include "mail/imap.h"
#include "mail/mail_int.h"

#include "common/common.h"
#include "common/trust.h"
#include "reports/reports.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A command's untagged answer kept in memory: 100,000 UIDs of a SEARCH fit. */
#define ANSWER_CAP (2u * 1024 * 1024)
#define CONNECT_TIMEOUT_S 30
/* Less than a byte a second, or no answer to a command, for this long: the server is taken
 * for gone. */
#define LOW_SPEED_TIME_S 60

struct buf {
    char *p;
    size_t len, alloc, cap;
    int over;
};

/* A message of the batch and what became of its reports. */
struct batch_msg {
    uint32_t uid;
    int ok;       /* some report stored, a duplicate or a conflict */
    int rejected; /* some rejection */
    int deferred; /* to try again later: it stays in the folder */
};

struct pass {
    const struct mail_imap_options *o;
    struct mail_imap_result *r;
    struct mail_ingest *in;
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
    char last[300]; /* the server's last tagged answer, without its tag */
    struct mail_imap_url url;
    char base[400];                     /* imaps://HOST:PORT/ */
    char sel[1200];                     /* base + the folder, URL-encoded */
    char folder[MAIL_IMAP_FIELD];       /* the folder as the server names it */
    char done_q[600], rej_q[600];       /* the target folders, quoted */
    char done_name[300], rej_name[300]; /* ... and as the configuration names them */
    int caps, fetching;
    struct buf body;
    struct batch_msg b[MAIL_IMAP_BATCH];
    size_t nb, bytes;
    mail_item_fn fwd;
    void *fwd_user;
};

int mail_imap_password(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (path == NULL) {
        snprintf(err, errlen, "[mail] imap needs [mail] password_file (a file whose first line "
                              "is the password)");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the password file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    int whole = got && (line[n] != '\0' || n + 1 < sizeof(line));
    line[n] = '\0';
    if (n == 0 || !whole) {
        snprintf(err, errlen, "the password file %s %s", path,
                 n == 0 ? "is empty: its first line is the password"
                        : "has a first line longer than 1022 bytes");
        memset(line, 0, sizeof(line));
        return -1;
    }
    *out = xstrdup(line);
    memset(line, 0, sizeof(line));
    return 0;
}

static int cancelled(const struct pass *p)
{
    return p->o->cancelled != NULL && p->o->cancelled(p->o->cancel_arg) != 0;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return cancelled(ud);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct pass *p = ud;
    struct buf *b = &p->body;
    size_t n = size * nmemb;
    if (b->over || n > b->cap - b->len) {
        b->over = 1;
        return p->fetching ? 0 : n; /* a message past the cap ends its transfer; an answer is cut */
    }
    if (b->len + n + 1 > b->alloc) {
        size_t a = b->alloc ? b->alloc : 65536;
        while (a < b->len + n + 1)
            a *= 2;
        b->p = xrealloc(b->p, a);
        b->alloc = a;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Keep the server's last tagged status line ("A003 NO [...] text"): the words of a refusal. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    struct pass *p = ud;
    if (type != CURLINFO_HEADER_IN || size == 0 || data[0] == '*' || data[0] == '+')
        return 0;
    const char *sp = memchr(data, ' ', size);
    if (sp == NULL)
        return 0;
    size_t n = size - (size_t)(sp + 1 - data);
    while (n > 0 && (sp[n] == '\r' || sp[n] == '\n'))
        n--;
    char line[sizeof(p->last)];
    n = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, sp + 1, n);
    line[n] = '\0';
    text_escape(p->last, sizeof(p->last), line, 0);
    return 0;
}

static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *arg)
{
    (void)h;
    return trust_add_ca_file(ssl_ctx, arg) == 0 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

static int setup(struct pass *p)
{
    if ((p->h = curl_easy_init()) == NULL)
        return -1;
    CURL *h = p->h;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, p->url.tls ? "imaps" : "imap");
    /* imap:// means STARTTLS, required; only a loopback server may be spoken to in plain */
    if (!p->url.tls)
        curl_easy_setopt(h, CURLOPT_USE_SSL,
                         (long)(p->url.loopback ? CURLUSESSL_NONE : CURLUSESSL_ALL));
    curl_easy_setopt(h, CURLOPT_USERNAME, p->url.user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, p->o->password);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)LOW_SPEED_TIME_S);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L); /* to on_debug only: it never prints */
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, p);
    const char *ca = p->o->cfg->mail_ca_file;
    if (ca != NULL && ca[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, ca);
    }
    snprintf(p->base, sizeof(p->base), "%s://%s:%d/", p->url.tls ? "imaps" : "imap", p->url.host,
             p->url.port);
    return 0;
}

/* One exchange: the custom command cmd (NULL: the fetch that url names), its answer in
 * p->body (a fetched message up to REPORT_MAX_MESSAGE bytes, else the untagged lines). */
static CURLcode perform(struct pass *p, const char *url, const char *cmd)
{
    p->body.len = 0;
    p->body.over = 0;
    p->fetching = cmd == NULL;
    p->body.cap = cmd == NULL ? REPORT_MAX_MESSAGE : ANSWER_CAP;
    p->errbuf[0] = '\0';
    p->last[0] = '\0';
    curl_easy_setopt(p->h, CURLOPT_URL, url);
    curl_easy_setopt(p->h, CURLOPT_CUSTOMREQUEST, cmd);
    return curl_easy_perform(p->h);
}

static enum mail_imap_status fail(struct pass *p, enum mail_imap_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum mail_imap_status fail(struct pass *p, enum mail_imap_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->r->error, sizeof(p->r->error), fmt, ap);
    va_end(ap);
    p->r->status = st;
    return st;
}

/* Why curl failed, in words: the server's refusal when there was one. */
static const char *why(const struct pass *p, CURLcode rc)
{
    if (rc == CURLE_QUOTE_ERROR || rc == CURLE_LOGIN_DENIED)
        if (p->last[0] != '\0')
            return p->last;
    return p->errbuf[0] != '\0' ? p->errbuf : curl_easy_strerror(rc);
}

/* A failure of the first exchange (connect, TLS, login) or of a later step. */
static enum mail_imap_status fail_curl(struct pass *p, CURLcode rc, const char *step)
{
    const char *u = p->url.user, *host = p->url.host;
    int port = p->url.port;
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return fail(p, MAIL_IMAP_CANCELLED, "cancelled");
    case CURLE_LOGIN_DENIED:
        if (step == NULL)
            return fail(p, MAIL_IMAP_LOGIN, "login failed for %s at %s:%d: %s", u, host, port,
                        why(p, rc));
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_USE_SSL_FAILED:
        return fail(p, MAIL_IMAP_TLS, "TLS with %s:%d failed: %s", host, port, why(p, rc));
    case CURLE_SSL_CACERT_BADFILE:
        return fail(p, MAIL_IMAP_CONFIG, "cannot load [mail] ca_file %s",
                    p->o->cfg->mail_ca_file ? p->o->cfg->mail_ca_file : "");
    case CURLE_QUOTE_ERROR:
        break;
    default:
        return fail(p, MAIL_IMAP_CONNECT, "cannot reach %s:%d%s%s: %s", host, port,
                    step ? " while " : "", step ? step : "", why(p, rc));
    }
    return fail(p, MAIL_IMAP_SERVER, "%s at %s:%d failed: %s", step ? step : "login", host, port,
                why(p, rc));
}

/* The outcomes of the batch's messages, on their way to the caller's callback. */
static void on_item(const struct mail_item *it, void *user)
{
    struct pass *p = user;
    for (size_t i = 0; i < p->nb; i++) /* at most MAIL_IMAP_BATCH */
        if ((long)p->b[i].uid == it->message) {
            if (it->outcome == MAIL_STORED || it->outcome == MAIL_DUPLICATE ||
                it->outcome == MAIL_CONFLICT)
                p->b[i].ok = 1;
            else if (it->outcome == MAIL_REJECTED)
                p->b[i].rejected = 1;
            else if (it->outcome == MAIL_DEFERRED)
                p->b[i].deferred = 1;
        }
    p->fwd(it, p->fwd_user);
}

/* Run cmd (printf-style) in the selected folder; 0, or -1 with the failure set. */
static int command(struct pass *p, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int command(struct pass *p, const char *step, const char *fmt, ...)
{
    char cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(cmd)) {
        fail(p, MAIL_IMAP_SERVER, "%s: the command is too long", step);
        return -1;
    }
    CURLcode rc = perform(p, p->sel, cmd);
    if (rc != CURLE_OK) {
        fail_curl(p, rc, step);
        return -1;
    }
    return 0;
}

/* Move the n sorted UIDs to the folder quoted as dest; 0 or -1. */
static int move(struct pass *p, const uint32_t *uids, size_t n, const char *dest, const char *name,
                long *moved)
{
    if (n == 0)
        return 0;
    char set[MAIL_IMAP_BATCH * 22 + 1], step[400];
    if (mail_imap_uid_set(uids, n, set, sizeof(set)) != 0)
        return -1;
    snprintf(step, sizeof(step), "moving messages to %s", name);
    if (p->caps & MAIL_IMAP_CAP_MOVE) {
        if (command(p, step, "UID MOVE %s %s", set, dest) != 0)
            return -1;
    } else if (command(p, step, "UID COPY %s %s", set, dest) != 0 ||
               command(p, step, "UID STORE %s +FLAGS.SILENT (\\Deleted)", set) != 0 ||
               ((p->caps & MAIL_IMAP_CAP_UIDPLUS) ? command(p, step, "UID EXPUNGE %s", set)
                                                  : command(p, step, "EXPUNGE")) != 0) {
        return -1;
    }
    *moved += (long)n;
    return 0;
}

/* Commit the batch, then move its messages: any report stored (or already there) to the done
 * folder, nothing usable to the rejected one; a deferred message stays where it is, for the next
 * pass. 0, or -1 (the pass stops). */
static int end_batch(struct pass *p, int move_too)
{
    if (mail_ingest_flush(p->in) != 0) {
        fail(p, MAIL_IMAP_DATABASE,
             "the database failed: the last %zu messages stay in the folder, the pass stopped",
             p->nb);
        p->nb = 0;
        return -1;
    }
    uint32_t done[MAIL_IMAP_BATCH], rej[MAIL_IMAP_BATCH];
    size_t nd = 0, nr = 0;
    for (size_t i = 0; i < p->nb; i++) {
        if (p->b[i].deferred)
            continue;
        if (p->b[i].ok)
            done[nd++] = p->b[i].uid;
        else if (p->b[i].rejected)
            rej[nr++] = p->b[i].uid;
    }
    p->nb = 0;
    p->bytes = 0;
    if (!move_too)
        return 0;
    if (move(p, done, nd, p->done_q, p->done_name, &p->r->moved_done) != 0 ||
        move(p, rej, nr, p->rej_q, p->rej_name, &p->r->moved_rejected) != 0)
        return -1;
    return 0;
}

/* The folder names as the server spells them (its hierarchy delimiter), quoted and encoded;
 * a missing done or rejected folder is created. 0 or -1. */
static int folders(struct pass *p)
{
    char delim = '/', name[MAIL_IMAP_FIELD], enc[3 * MAIL_IMAP_FIELD + 1];
    CURLcode rc = perform(p, p->base, "LIST \"\" \"\"");
    if (rc != CURLE_OK) {
        fail_curl(p, rc, "LIST");
        return -1;
    }
    mail_imap_parse_delimiter(p->body.p, p->body.len, &delim);
    const struct stsd_config *cfg = p->o->cfg;
    const char *names[2] = {cfg->mail_done_folder, cfg->mail_rejected_folder};
    char *quoted[2] = {p->done_q, p->rej_q}, *plain[2] = {p->done_name, p->rej_name};
    for (int i = 0; i < 2; i++) {
        snprintf(plain[i], sizeof(p->done_name), "%s", names[i] ? names[i] : "");
        if (mail_imap_folder_name(plain[i], delim, name, sizeof(name)) != 0 ||
            mail_imap_quote(name, quoted[i], sizeof(p->done_q)) != 0) {
            fail(p, MAIL_IMAP_CONFIG, "[mail] %s_folder '%s' cannot be named to the server",
                 i ? "rejected" : "done", plain[i]);
            return -1;
        }
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "CREATE %s", quoted[i]);
        rc = perform(p, p->base, cmd);
        if (rc != CURLE_OK && rc != CURLE_QUOTE_ERROR) { /* a NO: it exists already */
            fail_curl(p, rc, "CREATE");
            return -1;
        }
    }
    if (mail_imap_folder_name(p->url.folder, delim, p->folder, sizeof(p->folder)) != 0 ||
        mail_imap_url_encode(p->folder, enc, sizeof(enc)) != 0) {
        fail(p, MAIL_IMAP_CONFIG, "the folder '%s' of [mail] imap cannot be named to the server",
             p->url.folder);
        return -1;
    }
    snprintf(p->sel, sizeof(p->sel), "%s%s", p->base, enc);
    return 0;
}

/* Fetch UID uid into the batch; 0, or -1 when the pass must stop. */
static int fetch_one(struct pass *p, uint32_t uid)
{
    char url[sizeof(p->sel) + 32];
    snprintf(url, sizeof(url), "%s/;UID=%lu", p->sel, (unsigned long)uid);
    CURLcode rc = perform(p, url, NULL);
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND && !p->body.over) {
        mail__done(p->in); /* gone since the search: another client took it */
        return 0;
    }
    if (rc != CURLE_OK && !p->body.over) {
        char step[80];
        snprintf(step, sizeof(step), "fetching UID %lu", (unsigned long)uid);
        fail_curl(p, rc, step);
        return -1;
    }
    p->b[p->nb++] = (struct batch_msg){.uid = uid};
    p->r->messages++;
    if (p->body.over) {
        mail__reject(p->in, p->folder, (long)uid, NULL, "the message is larger than %d bytes",
                     REPORT_MAX_MESSAGE);
        mail__done(p->in);
        return 0;
    }
    char *msg = p->body.p != NULL ? p->body.p : xstrdup("");
    size_t len = p->body.len;
    p->body = (struct buf){0};
    p->bytes += len;
    mail_ingest_message(p->in, msg, len, p->folder, (long)uid);
    return 0;
}

static void run(struct pass *p)
{
    CURLcode rc = perform(p, p->base, "CAPABILITY"); /* connects and logs in */
    if (rc != CURLE_OK) {
        fail_curl(p, rc, NULL);
        return;
    }
    p->caps = mail_imap_parse_caps(p->body.p, p->body.len);
    if (folders(p) != 0)
        return;
    char step[400];
    snprintf(step, sizeof(step), "searching the folder %s", p->url.folder);
    if (command(p, step, "UID SEARCH UNDELETED") != 0)
        return;
    if (p->body.over) /* cut: a number at the end may be a piece */
        while (p->body.len > 0 && p->body.p[p->body.len - 1] != ' ')
            p->body.len--;
    uint32_t *uids = xmalloc(MAIL_IMAP_MAX_UIDS * sizeof(*uids));
    int capped = 0;
    size_t n = p->body.p ? mail_imap_parse_search(p->body.p, p->body.len, uids, MAIL_IMAP_MAX_UIDS,
                                                  &capped)
                         : 0;
    p->r->capped = capped;
    mail_ingest_expect(p->in, (long)n);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        if (cancelled(p)) {
            fail(p, MAIL_IMAP_CANCELLED, "cancelled");
            break;
        }
        ok = fetch_one(p, uids[i]) == 0;
        if (ok && (p->nb == MAIL_IMAP_BATCH || p->bytes >= MAIL_IMAP_BATCH_BYTES))
            ok = end_batch(p, 1) == 0;
    }
    free(uids);
    /* what was fetched is committed either way; moved only when all went well */
    if (p->r->status != MAIL_IMAP_DATABASE)
        end_batch(p, p->r->status == MAIL_IMAP_OK);
}

enum mail_imap_status mail_imap_pass(struct mail_ingest *in, const struct mail_imap_options *o,
                                     struct mail_imap_result *r)
{
    memset(r, 0, sizeof(*r));
    struct pass *p = xcalloc(1, sizeof(*p));
    p->o = o;
    p->r = r;
    p->in = in;
    char err[300];
    const struct mail_counts before = *mail_ingest_counts(in);
    if (o->cfg->mail_imap == NULL || o->cfg->mail_imap[0] == '\0')
        fail(p, MAIL_IMAP_CONFIG, "no [mail] imap is configured");
    else if (mail_imap_url_parse(o->cfg->mail_imap, &p->url, err, sizeof(err)) != 0)
        fail(p, MAIL_IMAP_CONFIG, "[mail] imap %s", err);
    else if (o->password == NULL)
        fail(p, MAIL_IMAP_CONFIG, "no password: set [mail] password_file");
    else if (setup(p) != 0)
        fail(p, MAIL_IMAP_CONFIG, "cannot start libcurl");
    if (r->status == MAIL_IMAP_OK) {
        mail__set_item_fn(in, on_item, p, &p->fwd, &p->fwd_user);
        run(p);
        mail_item_fn mine;
        void *mine_user;
        mail__set_item_fn(in, p->fwd, p->fwd_user, &mine, &mine_user);
    }
    const struct mail_counts *after = mail_ingest_counts(in);
    r->stored = after->stored - before.stored;
    r->duplicates = after->duplicates - before.duplicates;
    r->conflicts = after->conflicts - before.conflicts;
    r->rejected = after->rejected - before.rejected;
    r->deferred = after->deferred - before.deferred;
    if (p->h != NULL)
        curl_easy_cleanup(p->h);
    free(p->body.p);
    free(p);
    return r->status;
}
