/* dkim.c - DKIM verification (RFC 6376) of the message an e-mailed report came in, with
 * libopendkim: the signatures capped, keys through a cached lookup with deadlines, and one
 * result for the message. */
#include "mail/mail_int.h"

#include "common/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>
#include <dkim.h>

/* Bytes of body handed to libopendkim at once (after LF -> CRLF). */
#define BODY_CHUNK 65536

/* One cached key lookup (a failure too). */
struct key_entry {
    char *name;
    enum mail_dkim_key status;
    char *txt, *why;
};

struct mail_dkim_verifier {
    DKIM_LIB *lib;
    mail_dkim_lookup_fn fn;
    void *user;
    struct ub_ctx *ub;       /* mail_dkim_new: the lookups' resolver, owned */
    struct key_entry *cache; /* a ring of MAIL_DKIM_CACHE entries, the oldest replaced */
    size_t n_cache, next;
    long lookups;
    int64_t failed_ms; /* time the lookups that failed temporarily have waited, in all */
};

/* The key lookups of one message's signatures, to tell a missing key from a temporary
 * failure afterwards (libopendkim only knows "no key"). */
struct msg_ctx {
    struct mail_dkim_verifier *v;
    int64_t deadline;
    struct {
        DKIM_SIGINFO *sig;
        enum mail_dkim_key status;
        char name[256];
        char why[160];
    } keys[MAIL_DKIM_MAX_SIGS];
    int n_keys;
};

const char *mail_dkim_result_name(enum mail_dkim_result r)
{
    switch (r) {
    case MAIL_DKIM_PASS:
        return "pass";
    case MAIL_DKIM_UNALIGNED:
        return "unaligned";
    case MAIL_DKIM_FAIL:
        return "fail";
    case MAIL_DKIM_TEMPERROR:
        return "temperror";
    case MAIL_DKIM_NONE:
        break;
    }
    return "none";
}

/* 1 when `sub` ends with "." + `parent` (or equals it), case-insensitively. */
static int is_subdomain(const char *sub, size_t ls, const char *parent, size_t lp)
{
    if (lp == 0 || ls < lp || strncasecmp(sub + ls - lp, parent, lp) != 0)
        return 0;
    return ls == lp || sub[ls - lp - 1] == '.';
}

int mail_dkim_aligned(const char *d, const char *from_domain)
{
    if (d == NULL || from_domain == NULL)
        return 0;
    size_t ld = strlen(d), lf = strlen(from_domain);
    if (ld > 0 && d[ld - 1] == '.')
        ld--;
    if (lf > 0 && from_domain[lf - 1] == '.')
        lf--;
    if (ld == 0 || lf == 0)
        return 0;
    return is_subdomain(d, ld, from_domain, lf) || is_subdomain(from_domain, lf, d, ld);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A DNS name made of selector and domain: letters, digits, '-', '_', '.'; NULL when not. */
static int key_name(const char *sel, const char *dom, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s._domainkey.%s", sel ? sel : "", dom ? dom : "");
    if (n <= 0 || (size_t)n >= outsz || n > 253 || !sel || !*sel || !dom || !*dom)
        return -1;
    for (char *p = out; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return -1;
        *p = (char)tolower((unsigned char)*p);
    }
    if (out[n - 1] == '.')
        out[n - 1] = '\0';
    return 0;
}

static void cache_put(struct mail_dkim_verifier *v, const char *name, enum mail_dkim_key st,
                      const char *txt, const char *why)
{
    if (v->cache == NULL)
        v->cache = xcalloc(MAIL_DKIM_CACHE, sizeof(*v->cache));
    struct key_entry *e = &v->cache[v->next];
    v->next = (v->next + 1) % MAIL_DKIM_CACHE;
    if (v->n_cache < MAIL_DKIM_CACHE)
        v->n_cache++;
    free(e->name);
    free(e->txt);
    free(e->why);
    e->name = xstrdup(name);
    e->status = st;
    e->txt = xstrdup(txt);
    e->why = xstrdup(why);
}

/* The key at name: from the run's cache, else asked of the lookup within what is left of
 * the message's time. */
static enum mail_dkim_key lookup(struct msg_ctx *m, const char *name, char *txt, size_t txtsz,
                                 char *why, size_t whysz)
{
    struct mail_dkim_verifier *v = m->v;
    txt[0] = why[0] = '\0';
    for (size_t i = 0; i < v->n_cache; i++) {
        struct key_entry *e = &v->cache[i];
        if (strcmp(e->name, name) == 0) {
            snprintf(txt, txtsz, "%s", e->txt);
            snprintf(why, whysz, "%s", e->why);
            return e->status;
        }
    }
    int64_t left = m->deadline - now_ms();
    if (left <= 0) {
        snprintf(why, whysz, "no time left for its key (%d s for all of a message's keys)",
                 MAIL_DKIM_MESSAGE_MS / 1000);
        return MAIL_DKIM_KEY_TEMPFAIL;
    }
    if (v->failed_ms >= MAIL_DKIM_RUN_FAIL_MS) {
        snprintf(why, whysz,
                 "not asked: this run's lookups have waited %d s for keys that did not come",
                 MAIL_DKIM_RUN_FAIL_MS / 1000);
        return MAIL_DKIM_KEY_TEMPFAIL;
    }
    int64_t timeout = left < MAIL_DKIM_LOOKUP_MS ? left : MAIL_DKIM_LOOKUP_MS;
    v->lookups++;
    int64_t t0 = now_ms();
    enum mail_dkim_key st = v->fn(name, timeout, txt, txtsz, why, whysz, v->user);
    if (st == MAIL_DKIM_KEY_TEMPFAIL)
        v->failed_ms += now_ms() - t0;
    if (st == MAIL_DKIM_KEY_FOUND && strlen(txt) >= MAIL_DKIM_KEY_MAX) {
        st = MAIL_DKIM_KEY_MISSING;
        txt[0] = '\0';
        snprintf(why, whysz, "its key record is longer than %d bytes", MAIL_DKIM_KEY_MAX);
    }
    if (st != MAIL_DKIM_KEY_FOUND)
        txt[0] = '\0';
    /* A failure within a shortened wait says less about the key: not kept. */
    if (st != MAIL_DKIM_KEY_TEMPFAIL || timeout == MAIL_DKIM_LOOKUP_MS)
        cache_put(v, name, st, txt, why);
    return st;
}

/* libopendkim's key lookup: the TXT record's text into buf, or "not found" (a temporary
 * failure too: TRYAGAIN or ERROR would abandon every signature of the message; the message
 * context remembers which it was). */
static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    struct msg_ctx *m = dkim_get_user_context(dkim);
    char name[256], why[160], txt[MAIL_DKIM_KEY_MAX + 1];
    enum mail_dkim_key st;
    if (key_name((const char *)dkim_sig_getselector(sig), (const char *)dkim_sig_getdomain(sig),
                 name, sizeof(name)) != 0) {
        snprintf(name, sizeof(name), "?");
        snprintf(why, sizeof(why), "s= and d= do not make a DNS name");
        st = MAIL_DKIM_KEY_MISSING;
    } else {
        st = lookup(m, name, txt, sizeof(txt), why, sizeof(why));
    }
    if (m->n_keys < MAIL_DKIM_MAX_SIGS) {
        m->keys[m->n_keys].sig = sig;
        m->keys[m->n_keys].status = st;
        snprintf(m->keys[m->n_keys].name, sizeof(m->keys[0].name), "%s", name);
        snprintf(m->keys[m->n_keys].why, sizeof(m->keys[0].why), "%s", why);
        m->n_keys++;
    }
    if (st != MAIL_DKIM_KEY_FOUND || buflen == 0 || strlen(txt) >= buflen)
        return DKIM_CBSTAT_NOTFOUND;
    memcpy(buf, txt, strlen(txt) + 1);
    return DKIM_CBSTAT_CONTINUE;
}

/* The end of the line at p (its '\n', or end), within [p, end). */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

/* A line holding nothing but its line end: the end of the header. */
static int blank_line(const char *p, const char *e)
{
    return e == p || (e == p + 1 && *p == '\r');
}

static int is_dkim_signature(const char *f, size_t n)
{
    static const char name[] = "dkim-signature";
    size_t l = sizeof(name) - 1;
    if (n < l || strncasecmp(f, name, l) != 0)
        return 0;
    while (l < n && (f[l] == ' ' || f[l] == '\t'))
        l++;
    return l < n && f[l] == ':';
}

/*
 * Hand the header fields to libopendkim, one field at a time with its folded lines joined
 * by CRLF (RFC 6376 §5.3: the verifier works on the CRLF form). Only the first
 * MAIL_DKIM_MAX_SIGS DKIM-Signature fields are handed over (*dropped counts the others):
 * every signature costs a pass over the body, so this bounds the time a message can take.
 * Returns where the body starts (after the blank line; len when there is none).
 */
static size_t feed_header(DKIM *d, const char *msg, size_t len, int *nsigs, int *dropped)
{
    const char *p = msg, *end = msg + len;
    char *field = NULL;
    size_t cap = 0;
    while (p < end) {
        const char *e = line_end(p, end);
        if (blank_line(p, e)) {
            p = e < end ? e + 1 : end;
            break;
        }
        /* One field: this line and the continuation lines (starting with WSP) after it. */
        size_t n = 0;
        const char *q = p;
        do {
            const char *qe = line_end(q, end);
            size_t l = (size_t)(qe - q);
            if (l > 0 && q[l - 1] == '\r')
                l--;
            if (n + l + 3 > cap) {
                cap = 2 * (n + l + 3);
                field = xrealloc(field, cap);
            }
            if (n > 0) {
                field[n++] = '\r';
                field[n++] = '\n';
            }
            memcpy(field + n, q, l);
            n += l;
            q = qe < end ? qe + 1 : end;
        } while (q < end && (*q == ' ' || *q == '\t'));
        p = q;
        if (is_dkim_signature(field, n) && ++*nsigs > MAIL_DKIM_MAX_SIGS) {
            ++*dropped;
            continue;
        }
        /* A field libopendkim refuses (no colon) is left out: it cannot be signed. */
        (void)dkim_header(d, (u_char *)field, n);
    }
    free(field);
    return (size_t)(p - msg);
}

/* The body with every bare LF made CRLF, in chunks of BODY_CHUNK. */
static DKIM_STAT feed_body(DKIM *d, const char *b, size_t n)
{
    unsigned char *out = xmalloc(BODY_CHUNK + 2);
    size_t o = 0;
    char prev = '\0';
    DKIM_STAT st = DKIM_STAT_OK;
    for (size_t i = 0; i < n && st == DKIM_STAT_OK; i++) {
        if (b[i] == '\n' && prev != '\r')
            out[o++] = '\r';
        out[o++] = (unsigned char)b[i];
        prev = b[i];
        if (o >= BODY_CHUNK) {
            st = dkim_body(d, out, o);
            o = 0;
        }
    }
    if (o > 0 && st == DKIM_STAT_OK)
        st = dkim_body(d, out, o);
    free(out);
    return st;
}

static int rank(enum mail_dkim_result r)
{
    static const int order[] = {[MAIL_DKIM_NONE] = 0,
                                [MAIL_DKIM_FAIL] = 1,
                                [MAIL_DKIM_TEMPERROR] = 2,
                                [MAIL_DKIM_UNALIGNED] = 3,
                                [MAIL_DKIM_PASS] = 4};
    return order[r];
}

/* The result of one signature after the message went through. */
static void judge(DKIM *d, DKIM_SIGINFO *sig, const struct msg_ctx *m, const char *from_domain,
                  struct mail_dkim *c)
{
    const char *dom = (const char *)dkim_sig_getdomain(sig);
    text_escape(c->domain, sizeof(c->domain), dom ? dom : "", 0);
    int err = dkim_sig_geterror(sig);
    int bh = dkim_sig_getbh(sig);
    c->result = MAIL_DKIM_FAIL;
    if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MATCH) {
        c->result = mail_dkim_aligned(dom, from_domain) ? MAIL_DKIM_PASS : MAIL_DKIM_UNALIGNED;
        if (c->result == MAIL_DKIM_UNALIGNED)
            snprintf(c->detail, sizeof(c->detail),
                     "valid, but d=%.100s is not the From: domain %.100s", c->domain,
                     from_domain && *from_domain ? from_domain : "(none)");
        return;
    }
    if (err == DKIM_SIGERROR_NOKEY) {
        for (int i = 0; i < m->n_keys; i++) {
            if (m->keys[i].sig != sig)
                continue;
            if (m->keys[i].status == MAIL_DKIM_KEY_TEMPFAIL)
                c->result = MAIL_DKIM_TEMPERROR;
            snprintf(c->detail, sizeof(c->detail), "%s %.120s: %.100s",
                     c->result == MAIL_DKIM_TEMPERROR ? "key not fetched from" : "no key at",
                     m->keys[i].name, m->keys[i].why);
            return;
        }
        snprintf(c->detail, sizeof(c->detail), "no key");
    } else if (err == DKIM_SIGERROR_KEYREVOKED) {
        snprintf(c->detail, sizeof(c->detail), "key revoked (an empty p= in its key record)");
    } else if (bh == DKIM_SIGBH_MISMATCH) {
        snprintf(c->detail, sizeof(c->detail),
                 "body hash mismatch: the body changed after "
                 "signing");
    } else if (err == DKIM_SIGERROR_BADSIG ||
               ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED) != 0 &&
                err == DKIM_SIGERROR_OK)) {
        snprintf(c->detail, sizeof(c->detail),
                 "signature mismatch: a signed header field "
                 "changed, or another key signed it");
    } else if (err != DKIM_SIGERROR_OK && err != DKIM_SIGERROR_UNKNOWN) {
        snprintf(c->detail, sizeof(c->detail), "%s", dkim_sig_geterrorstr(err));
    } else {
        const char *why = dkim_geterror(d);
        snprintf(c->detail, sizeof(c->detail), "not verified: %s",
                 why && *why ? why : "the message is malformed");
    }
}

void mail_dkim_verify(struct mail_dkim_verifier *v, const char *msg, size_t len,
                      const char *from_domain, struct mail_dkim *out)
{
    memset(out, 0, sizeof(*out));
    struct msg_ctx *m = xcalloc(1, sizeof(*m));
    m->v = v;
    m->deadline = now_ms() + MAIL_DKIM_MESSAGE_MS;
    DKIM_STAT st;
    DKIM *d = dkim_verify(v->lib, (const u_char *)"stsd", NULL, &st);
    if (d == NULL) {
        out->result = MAIL_DKIM_TEMPERROR;
        snprintf(out->detail, sizeof(out->detail), "the verifier could not start");
        free(m);
        return;
    }
    dkim_set_user_context(d, m);
    int nsigs = 0, dropped = 0;
    size_t body = feed_header(d, msg, len, &nsigs, &dropped);
    if (nsigs > 0) {
        st = dkim_eoh(d);
        if (st == DKIM_STAT_OK && feed_body(d, msg + body, len - body) == DKIM_STAT_OK)
            (void)dkim_eom(d, NULL);
        DKIM_SIGINFO **sigs = NULL;
        int n = 0;
        if (dkim_getsiglist(d, &sigs, &n) != DKIM_STAT_OK)
            n = 0;
        out->result = MAIL_DKIM_FAIL;
        const char *why = dkim_geterror(d);
        snprintf(out->detail, sizeof(out->detail), "malformed DKIM-Signature%s%s",
                 why && *why ? ": " : "", why && *why ? why : "");
        for (int i = 0; i < n; i++) {
            struct mail_dkim c = {0};
            judge(d, sigs[i], m, from_domain, &c);
            if (i == 0 || rank(c.result) > rank(out->result))
                *out = c;
        }
    }
    if (dropped > 0 && out->result != MAIL_DKIM_PASS) {
        size_t l = strlen(out->detail);
        snprintf(out->detail + l, sizeof(out->detail) - l,
                 "%s%d more signatures not evaluated (at most %d are)", l ? "; " : "", dropped,
                 MAIL_DKIM_MAX_SIGS);
    }
    dkim_free(d);
    free(m);
}

struct mail_dkim_verifier *mail_dkim_new_lookup(mail_dkim_lookup_fn fn, void *user, char *err,
                                                size_t errlen)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL) {
        snprintf(err, errlen, "cannot start libopendkim");
        return NULL;
    }
    dkim_set_key_lookup(lib, key_lookup);
    struct mail_dkim_verifier *v = xcalloc(1, sizeof(*v));
    v->lib = lib;
    v->fn = fn;
    v->user = user;
    return v;
}

struct mail_dkim_verifier *mail_dkim_new(const char *resolver, char *err, size_t errlen)
{
    char fwd[128];
    if (resolver != NULL && resolver_parse(resolver, fwd, sizeof(fwd)) != 0) {
        snprintf(err, errlen, "[checks] resolver '%s' is not IP, IP@PORT or IP:PORT", resolver);
        return NULL;
    }
    struct ub_ctx *ub = resolver_new(resolver ? fwd : NULL, err, errlen);
    if (ub == NULL)
        return NULL;
    struct mail_dkim_verifier *v = mail_dkim_new_lookup(mail__dkim_dns_lookup, ub, err, errlen);
    if (v == NULL) {
        ub_ctx_delete(ub);
        return NULL;
    }
    v->ub = ub;
    return v;
}

long mail_dkim_lookups(const struct mail_dkim_verifier *v)
{
    return v->lookups;
}

void mail_dkim_free(struct mail_dkim_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_cache; i++) {
        free(v->cache[i].name);
        free(v->cache[i].txt);
        free(v->cache[i].why);
    }
    free(v->cache);
    dkim_close(v->lib);
    if (v->ub)
        ub_ctx_delete(v->ub);
    free(v);
}
