/* ingest.c - the batch of an ingest run: parse reports, store them in short transactions,
 * and hand every outcome to the caller in input order. */
#include "mail/mail_int.h"

#include "common/common.h"
#include "reports/reports.h"
#include "sql/db.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reports stored per transaction, and the raw bytes buffered before a flush: short
 * transactions, so that the server writing the same database waits little. */
#define INGEST_BATCH 256
#define INGEST_BATCH_BYTES (64u * 1024 * 1024)

/* One outcome, in input order; a report waits in it until its batch is stored. */
struct pending {
    struct report r;
    unsigned char digest[REPORT_DIGEST_LEN]; /* of r as parsed, before merging */
    int has_report;
    char *raw;
    size_t rawlen;
    const char *source;
    const char *dkim;                /* e-mail: mail_dkim_result_name; NULL for a file */
    char *dkim_domain, *dkim_detail; /* NULL when empty */
    char *file, *part;
    long message;
    char *reason; /* a rejection (or a deferral), or NULL */
    int deferred; /* the reason is a deferral: try again later */
    struct db_store_result res;
};

struct mail_ingest {
    const struct stsd_config *cfg;
    struct db *db;
    mail_item_fn fn;
    void *user;
    struct pending *items;
    size_t n, cap, bytes;
    struct mail_counts counts;
    mail_progress_fn progress;
    void *progress_user;
    long done, total;
    /* the TLS-Report-Domain of the message whose parts are being added, "" otherwise:
     * report_attribute gives it to policies that name no policy-domain */
    char report_domain[256];
    /* DKIM of the message whose reports are being added (NULL otherwise), and the verifier,
     * made at the first message of the run (NULL before; dkim_err when it could not be). */
    const struct mail_dkim *dkim;
    struct mail_dkim_verifier *verifier;
    int verifier_given; /* mail_ingest_set_dkim: the caller's, not freed here */
    char *dkim_err;
};

void mail_ingest_set_dkim(struct mail_ingest *in, struct mail_dkim_verifier *v)
{
    if (!in->verifier_given)
        mail_dkim_free(in->verifier);
    in->verifier = v;
    in->verifier_given = 1;
}

struct mail_ingest *mail_ingest_new(struct db *db, const struct stsd_config *cfg, mail_item_fn fn,
                                    void *user)
{
    struct mail_ingest *in = xcalloc(1, sizeof(*in));
    in->db = db;
    in->cfg = cfg;
    in->fn = fn;
    in->user = user;
    return in;
}

const struct mail_counts *mail_ingest_counts(const struct mail_ingest *in)
{
    return &in->counts;
}

const struct stsd_config *mail__config(const struct mail_ingest *in)
{
    return in->cfg;
}

static struct pending *push(struct mail_ingest *in, const char *file, long message,
                            const char *part)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 64;
        in->items = xrealloc(in->items, in->cap * sizeof(*in->items));
    }
    struct pending *p = &in->items[in->n++];
    memset(p, 0, sizeof(*p));
    p->file = xstrdup(file);
    p->part = part ? xstrdup(part) : NULL;
    p->message = message;
    return p;
}

static void emit(struct mail_ingest *in, enum mail_outcome o, const char *file, long message,
                 const char *reason)
{
    struct mail_item it = {.outcome = o, .file = file, .message = message, .reason = reason};
    in->fn(&it, in->user);
}

void mail__missing(struct mail_ingest *in, const char *file, const char *reason)
{
    in->counts.missing = 1;
    emit(in, MAIL_MISSING, file, 0, reason);
}

static void flush(struct mail_ingest *in);

/* An outcome without a report: a rejection, or a deferral. */
__attribute__((format(printf, 6, 0))) static void not_stored(struct mail_ingest *in, int deferred,
                                                             const char *file, long message,
                                                             const char *part, const char *fmt,
                                                             va_list ap)
{
    char reason[768];
    vsnprintf(reason, sizeof(reason), fmt, ap);
    struct pending *p = push(in, file, message, part);
    p->reason = xstrdup(reason);
    p->deferred = deferred;
    if (deferred)
        in->counts.deferred++;
    else
        in->counts.rejected++;
    if (in->n >= INGEST_BATCH) /* keep memory bounded on inputs that are mostly rejected */
        flush(in);
}

void mail__reject(struct mail_ingest *in, const char *file, long message, const char *part,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    not_stored(in, 0, file, message, part, fmt, ap);
    va_end(ap);
}

void mail__defer(struct mail_ingest *in, const char *file, long message, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    not_stored(in, 1, file, message, NULL, fmt, ap);
    va_end(ap);
}

void mail__add_report(struct mail_ingest *in, char *raw, size_t len, const char *source,
                      const char *file, long message, const char *part)
{
    struct report r;
    struct report_error err;
    /* The same bounded step as HTTPS (max_json, max_values); no budget: one at a time. */
    struct report_body_limits lim = {.max_json = (size_t)in->cfg->max_json,
                                     .max_values = (size_t)in->cfg->max_values};
    int rc = report_parse_body_limited(raw, len, &lim, &r, NULL, &err);
    if (rc != 0) {
        char buf[512];
        if (rc == 413 && strstr(err.message, "size limit") != NULL)
            mail__reject(in, file, message, part, "inflates past [reports] max_json (%llu bytes)",
                         (unsigned long long)in->cfg->max_json);
        else
            mail__reject(in, file, message, part, "%s", report_error_text(&err, buf, sizeof(buf)));
        free(raw);
        return;
    }
    struct pending *p = push(in, file, message, part);
    p->r = r;
    report_prepare_store(&p->r, in->cfg->max_detail_rows, p->digest);
    report_attribute(&p->r, in->report_domain); /* after the digest: of the report as sent */
    p->has_report = 1;
    p->raw = raw;
    p->rawlen = len;
    p->source = source;
    if (in->dkim != NULL && strcmp(source, "email") == 0) {
        p->dkim = mail_dkim_result_name(in->dkim->result);
        p->dkim_domain = in->dkim->domain[0] ? xstrdup(in->dkim->domain) : NULL;
        p->dkim_detail = in->dkim->detail[0] ? xstrdup(in->dkim->detail) : NULL;
    }
    in->bytes += len;
    if (in->n >= INGEST_BATCH || in->bytes >= INGEST_BATCH_BYTES)
        flush(in);
}

/* DKIM-verify a message that carries reports (RFC 8460 §5.3) into *dk; the verifier is made
 * at the first one, with [checks] resolver. 0, or -1 when [mail] require_dkim turns it away:
 * rejected with the reason, or deferred when the key could not be fetched now (temperror: a
 * DNS failure must not cost a genuine report; the MTA or the next IMAP pass tries again). */
static int verify_message(struct mail_ingest *in, const char *msg, size_t len,
                          const char *from_domain, struct mail_dkim *dk, const char *file,
                          long message)
{
    memset(dk, 0, sizeof(*dk));
    if (in->verifier == NULL && in->dkim_err == NULL) {
        char err[256];
        in->verifier = mail_dkim_new(in->cfg->check_resolver, err, sizeof(err));
        if (in->verifier == NULL)
            in->dkim_err = xstrdup(err);
    }
    if (in->verifier != NULL) {
        mail_dkim_verify(in->verifier, msg, len, from_domain, dk);
    } else {
        dk->result = MAIL_DKIM_TEMPERROR;
        snprintf(dk->detail, sizeof(dk->detail), "%s", in->dkim_err);
    }
    if (!in->cfg->mail_require_dkim || dk->result == MAIL_DKIM_PASS)
        return 0;
    if (dk->result == MAIL_DKIM_TEMPERROR) {
        mail__defer(in, file, message,
                    "DKIM temperror%s%s: %s; [mail] require_dkim = on keeps the message to try "
                    "again later (nothing stored)",
                    dk->domain[0] ? " d=" : "", dk->domain, dk->detail[0] ? dk->detail : "no key");
        return -1;
    }
    mail__reject(in, file, message, NULL,
                 "DKIM %s%s%s%s%s: [mail] require_dkim = on stores only reports whose message "
                 "has a valid DKIM signature of its From: domain (%s); ask the reporter to sign, "
                 "or set require_dkim = off",
                 mail_dkim_result_name(dk->result), dk->domain[0] ? " d=" : "", dk->domain,
                 dk->detail[0] ? ": " : "", dk->detail, from_domain[0] ? from_domain : "none");
    return -1;
}

void mail__add_message(struct mail_ingest *in, char *msg, size_t len, const char *file,
                       long message)
{
    struct report_part *parts = NULL;
    struct report_error err;
    struct report_mime_info info;
    int n = report_mime_extract(msg, len, &parts, &info, &err);
    struct mail_dkim dk;
    if (n > 0 && verify_message(in, msg, len, info.from_domain, &dk, file, message) != 0) {
        report_parts_free(parts, n);
        free(msg);
        return;
    }
    in->dkim = n > 0 ? &dk : NULL;
    free(msg);
    if (n < 0) {
        char buf[512];
        mail__reject(in, file, message, NULL, "not a readable message: %s",
                     report_error_text(&err, buf, sizeof(buf)));
    } else if (n == 0) {
        mail__reject(in, file, message, NULL, "no TLS-RPT report in the message");
    }
    snprintf(in->report_domain, sizeof(in->report_domain), "%s", n > 0 ? info.report_domain : "");
    for (int i = 0; i < n; i++) {
        const char *part = n > 1 ? (parts[i].filename ? parts[i].filename : "?") : NULL;
        char *data = parts[i].data;
        parts[i].data = NULL; /* ownership moves to mail__add_report */
        mail__add_report(in, data, parts[i].len, "email", file, message, part);
    }
    in->report_domain[0] = '\0';
    in->dkim = NULL;
    if (n > 0)
        report_parts_free(parts, n);
}

/* Store the batch's reports in one transaction; 0, or -1 when nothing of it was stored. */
static int store_batch(struct mail_ingest *in)
{
    int64_t now = (int64_t)time(NULL);
    if (db_begin(in->db) != 0) {
        char *why = xasprintf("cannot begin a transaction: %s", db_errmsg(in->db));
        emit(in, MAIL_DBERROR, "", 0, why);
        free(why);
        return -1;
    }
    for (size_t i = 0; i < in->n; i++) {
        struct pending *p = &in->items[i];
        if (!p->has_report)
            continue;
        struct db_report_origin o = {.source = p->source,
                                     .received = now,
                                     .dkim = p->dkim,
                                     .dkim_domain = p->dkim_domain,
                                     .dkim_detail = p->dkim_detail};
        if (db_report_store(in->db, &p->r, p->digest, p->raw, p->rawlen, &o, &p->res) != 0) {
            p->reason = xasprintf("database: %s", db_errmsg(in->db));
            in->counts.rejected++;
            continue;
        }
        in->counts.duplicates += p->res.outcome == DB_STORE_DUPLICATE;
        in->counts.conflicts += p->res.outcome == DB_STORE_CONFLICT;
        in->counts.stored += p->res.outcome == DB_STORE_STORED;
    }
    if (db_commit(in->db) != 0) {
        char *why = xasprintf("cannot commit: %s", db_errmsg(in->db));
        db_rollback(in->db);
        emit(in, MAIL_DBERROR, "", 0, why);
        free(why);
        return -1;
    }
    return 0;
}

/* Store the pending reports, then hand every pending outcome to the caller in order. */
static void flush(struct mail_ingest *in)
{
    int any = 0;
    for (size_t i = 0; i < in->n; i++)
        any |= in->items[i].has_report;
    int stored = 0;
    if (any && !in->counts.dberror) {
        stored = store_batch(in) == 0;
        in->counts.dberror = !stored;
    }
    static const enum mail_outcome outcome[] = {[DB_STORE_STORED] = MAIL_STORED,
                                                [DB_STORE_DUPLICATE] = MAIL_DUPLICATE,
                                                [DB_STORE_CONFLICT] = MAIL_CONFLICT};
    for (size_t i = 0; i < in->n; i++) {
        struct pending *p = &in->items[i];
        struct mail_item it = {.file = p->file, .part = p->part, .message = p->message};
        if (p->reason) {
            it.outcome = p->deferred ? MAIL_DEFERRED : MAIL_REJECTED;
            it.reason = p->reason;
        } else {
            it.outcome = outcome[p->res.outcome];
            it.id = p->res.id;
            it.conflict_of = p->res.conflict_of;
        }
        if (p->has_report) {
            it.org = p->r.organization_name;
            it.report_id = p->r.report_id;
            it.dkim = p->dkim;
            it.dkim_domain = p->dkim_domain;
        }
        /* After a failed commit nothing of this batch was stored: say nothing false. */
        if (stored || !p->has_report)
            in->fn(&it, in->user);
        free(p->reason);
        free(p->file);
        free(p->part);
        free(p->dkim_domain);
        free(p->dkim_detail);
        free(p->raw);
        if (p->has_report)
            report_clear(&p->r);
    }
    in->n = 0;
    in->bytes = 0;
}

void mail_ingest_set_progress(struct mail_ingest *in, mail_progress_fn fn, void *user)
{
    in->progress = fn;
    in->progress_user = user;
}

int mail__shows_progress(const struct mail_ingest *in)
{
    return in->progress != NULL;
}

void mail_ingest_expect(struct mail_ingest *in, long n)
{
    in->total += n;
}

static void tell_progress(struct mail_ingest *in, int final)
{
    if (in->progress == NULL)
        return;
    struct mail_progress p = {.done = in->done,
                              .total = in->total,
                              .stored = in->counts.stored,
                              .duplicates = in->counts.duplicates,
                              .conflicts = in->counts.conflicts,
                              .rejected = in->counts.rejected,
                              .deferred = in->counts.deferred,
                              .final = final};
    in->progress(&p, in->progress_user);
}

void mail__done(struct mail_ingest *in)
{
    in->done++;
    tell_progress(in, 0);
}

void mail_ingest_message(struct mail_ingest *in, char *msg, size_t len, const char *file,
                         long message)
{
    mail__add_message(in, msg, len, file, message);
    mail__done(in);
}

int mail_ingest_flush(struct mail_ingest *in)
{
    flush(in);
    return in->counts.dberror ? -1 : 0;
}

void mail_ingest_finish(struct mail_ingest *in, struct mail_counts *counts)
{
    flush(in);
    tell_progress(in, 1);
    if (counts)
        *counts = in->counts;
    free(in->items);
    if (!in->verifier_given)
        mail_dkim_free(in->verifier);
    free(in->dkim_err);
    free(in);
}

void mail__set_item_fn(struct mail_ingest *in, mail_item_fn fn, void *user, mail_item_fn *prev,
                       void **prev_user)
{
    *prev = in->fn;
    *prev_user = in->user;
    in->fn = fn;
    in->user = user;
}
