/* dkim_dns.c - DKIM keys from DNS (RFC 6376 §3.6.2): one TXT query through libunbound,
 * waited for with a deadline, and the key record picked from the answer. */
#include "mail/mail_int.h"

#include "common/common.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>

/* TXT records of one answer looked at for the key record. */
#define MAX_TXT_RECORDS 16

int mail__dkim_txt_join(const unsigned char *rd, size_t len, char *out, size_t outsz)
{
    size_t o = 0, w = 0;
    if (outsz == 0)
        return -1;
    while (o < len) {
        size_t l = rd[o++];
        if (l > len - o || w + l >= outsz)
            return -1;
        memcpy(out + w, rd + o, l);
        w += l;
        o += l;
    }
    out[w] = '\0';
    return memchr(out, '\0', w) != NULL ? -1 : 0; /* a NUL inside is no key record */
}

/* 1 when the record's text starts with the version tag of a key record (RFC 6376 §3.6.1). */
static int is_key_record(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, "v", 1) != 0)
        return 0;
    for (s++; *s == ' ' || *s == '\t'; s++)
        ;
    if (*s++ != '=')
        return 0;
    while (*s == ' ' || *s == '\t')
        s++;
    return strncmp(s, "DKIM1", 5) == 0;
}

struct answer {
    int done, err;
    struct ub_result *res;
};

static void on_answer(void *arg, int err, struct ub_result *res)
{
    struct answer *a = arg;
    a->done = 1;
    a->err = err;
    a->res = res;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The answer's key record into txt: the first record that says v=DKIM1, else the only one
 * (v= may be left out, RFC 6376 §3.6.1). */
static enum mail_dkim_key pick(const struct ub_result *r, char *txt, size_t txtsz, char *why,
                               size_t whysz)
{
    int n = 0, chosen = 0;
    for (; n < MAX_TXT_RECORDS && r->data[n] != NULL; n++) {
        char rec[MAIL_DKIM_KEY_MAX + 1];
        if (mail__dkim_txt_join((const unsigned char *)r->data[n], (size_t)r->len[n], rec,
                                sizeof(rec)) != 0)
            continue;
        if (is_key_record(rec) || (n == 0 && r->data[1] == NULL)) {
            snprintf(txt, txtsz, "%s", rec);
            chosen = 1;
            break;
        }
    }
    if (chosen)
        return MAIL_DKIM_KEY_FOUND;
    snprintf(why, whysz, n ? "no usable key record among its %d TXT records" : "no TXT record", n);
    return MAIL_DKIM_KEY_MISSING;
}

enum mail_dkim_key mail__dkim_dns_lookup(const char *name, int64_t timeout_ms, char *txt,
                                         size_t txtsz, char *why, size_t whysz, void *user)
{
    struct ub_ctx *ub = user;
    struct answer a = {0};
    int id;
    int rc = ub_resolve_async(ub, name, 16 /* TXT */, 1 /* IN */, &a, on_answer, &id);
    if (rc != 0) {
        snprintf(why, whysz, "DNS: %s", ub_strerror(rc));
        return MAIL_DKIM_KEY_TEMPFAIL;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    while (!a.done) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            ub_cancel(ub, id);
            snprintf(why, whysz, "no DNS answer within %lld ms", (long long)timeout_ms);
            return MAIL_DKIM_KEY_TEMPFAIL;
        }
        struct pollfd pfd = {.fd = ub_fd(ub), .events = POLLIN};
        if (poll(&pfd, 1, (int)left) > 0)
            ub_process(ub);
    }
    enum mail_dkim_key st = MAIL_DKIM_KEY_TEMPFAIL;
    const struct ub_result *r = a.res;
    if (a.err != 0 || r == NULL)
        snprintf(why, whysz, "DNS: %s", ub_strerror(a.err));
    else if (r->bogus)
        snprintf(why, whysz, "DNSSEC validation failed (%s)",
                 r->why_bogus ? r->why_bogus : "bogus");
    else if (r->nxdomain) {
        snprintf(why, whysz, "NXDOMAIN");
        st = MAIL_DKIM_KEY_MISSING;
    } else if (r->rcode == 0 && !r->havedata) {
        snprintf(why, whysz, "no TXT record");
        st = MAIL_DKIM_KEY_MISSING;
    } else if (r->rcode != 0)
        snprintf(why, whysz, "DNS rcode %s",
                 r->rcode == 2   ? "SERVFAIL"
                 : r->rcode == 5 ? "REFUSED"
                                 : "error");
    else
        st = pick(r, txt, txtsz, why, whysz);
    if (a.res)
        ub_resolve_free(a.res);
    return st;
}
