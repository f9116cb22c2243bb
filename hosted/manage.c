/* manage.c - changes to what is hosted: compose, put, withdraw (RFC 8461 §8.3), audit. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* At most this many mx patterns in a composed policy: far beyond any real MX set, and the
 * text stays well under the 64 KiB body limit. */
#define HOSTED_MAX_MX 256

int hosted_policy_compose(int mode, const char *const *mx, size_t n_mx, long max_age, char **text,
                          size_t *len, char field[32], char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    field[0] = '\0';
    if (mode != POLICY_MODE_NONE && mode != POLICY_MODE_TESTING && mode != POLICY_MODE_ENFORCE) {
        snprintf(field, 32, "mode");
        snprintf(err, errlen, "mode is not one of enforce, testing, none");
        return -1;
    }
    if (max_age < 0 || max_age > POLICY_MAX_AGE_LIMIT) {
        snprintf(field, 32, "max_age");
        snprintf(err, errlen, "max_age %ld is not a number of seconds from 0 to %ld", max_age,
                 POLICY_MAX_AGE_LIMIT);
        return -1;
    }
    snprintf(field, 32, "mx");
    if (n_mx == 0 && mode != POLICY_MODE_NONE) {
        snprintf(err, errlen,
                 "mode %s needs at least one mx: the host names the MX records point to, or "
                 "*.domain patterns",
                 policy_mode_name((enum policy_mode)mode));
        return -1;
    }
    if (n_mx > HOSTED_MAX_MX) {
        snprintf(err, errlen, "more than %d mx patterns", HOSTED_MAX_MX);
        return -1;
    }
    struct policy p = {.mode = (enum policy_mode)mode, .max_age = max_age};
    p.mx = xcalloc(n_mx ? n_mx : 1, sizeof(char *));
    for (size_t i = 0; i < n_mx; i++) {
        const char *why = policy_mx_problem(mx[i]);
        if (why != NULL) {
            char *shown = text_escape_dup(mx[i]);
            snprintf(err, errlen, "mx '%.100s' %s", shown, why);
            free(shown);
            policy_clear(&p);
            return -1;
        }
        char *m = xstrdup(mx[i]);
        for (char *q = m; *q; q++)
            *q = *q >= 'A' && *q <= 'Z' ? (char)(*q - 'A' + 'a') : *q;
        int dup = 0;
        for (size_t k = 0; k < p.n_mx && !dup; k++)
            dup = strcmp(p.mx[k], m) == 0;
        if (dup) /* a repeat says nothing new */
            free(m);
        else
            p.mx[p.n_mx++] = m;
    }
    field[0] = '\0';
    *text = policy_format(&p, len);
    policy_clear(&p);
    return 0;
}

int hosted__audit(struct hosted *h, const char *actor, const char *action, const char *domain,
                  const char *old_id, const char *new_id, const char *detail, int64_t now)
{
    char err[256];
    struct db *db = hosted__db_rw(h, err, sizeof(err));
    if (db == NULL)
        return -1;
    /* db_audit_add only reads the row */
    struct db_audit row = {.at = now,
                           .actor = (char *)actor,
                           .action = (char *)action,
                           .domain = (char *)domain,
                           .old_id = old_id && old_id[0] ? (char *)old_id : NULL,
                           .new_id = new_id && new_id[0] ? (char *)new_id : NULL,
                           .detail = (char *)detail};
    return db_audit_add(db, &row, NULL);
}

/* The id of a content (recorded when new) into id; "" when it has none. */
static void content_id(struct hosted *h, const struct hosted_policy *p, int64_t now, char id[33])
{
    int is_new = 0;
    id[0] = '\0';
    if (p->valid && hosted_version_record(h, p->domain, p->sha256, now, id, &is_new) != 0)
        id[0] = '\0';
}

/* Write a domain's file atomically (the policy directory created 0750 when missing; with
 * `same` the file holds these bytes already) and record the content's id. 0, or -1 with the
 * reason in err. */
static int write_policy(struct hosted *h, const char *d, const char *text, size_t len, int same,
                        int64_t now, char id[33], int *is_new, char *err, size_t errlen)
{
    char *path = hosted__policy_path(h, d);
    int rc = -1;
    if (!same &&
        (mkdir_p(h->policy_dir, 0750) != 0 || file_write_atomic(path, text, len, 0644) != 0)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    unsigned char sha[32];
    hosted__sha256(text, len, sha);
    if (hosted_version_record(h, d, sha, now, id, is_new) != 0) {
        char dberr[256];
        struct db *db = hosted_db(h, dberr, sizeof(dberr));
        snprintf(err, errlen, "wrote %s but could not record its id: %s", path,
                 db ? db_errmsg(db) : dberr);
        goto out;
    }
    rc = 0;
out:
    free(path);
    return rc;
}

int hosted_policy_put(struct hosted *h, const char *domain, const char *text, size_t len,
                      const char *actor, int64_t now, struct hosted_put *res)
{
    memset(res, 0, sizeof(*res));
    char d[254];
    if (hosted__domain(domain, d) != 0) {
        snprintf(res->field, sizeof(res->field), "domain");
        snprintf(res->error, sizeof(res->error),
                 "not a valid domain name; give the mail domain in A-labels, e.g. example.com");
        return -1;
    }
    struct policy np;
    struct policy_diag diag;
    int bad = policy_parse(text, len, &np, &diag) != 0;
    int to_enforce = np.mode == POLICY_MODE_ENFORCE;
    policy_clear(&np);
    if (bad) { /* a broken text is never written */
        snprintf(res->field, sizeof(res->field), "policy");
        policy_diag_first(&diag, res->error, sizeof(res->error));
        return -1;
    }
    struct db *db = hosted__db_rw(h, res->error, sizeof(res->error));
    if (db == NULL)
        return -2;
    struct hosted_policy old;
    int found = hosted_policy_get(h, d, 0, &old) != 0;
    content_id(h, &old, now, res->old_id);
    struct db_withdrawal w;
    int withdrawing = db_withdrawal_get(db, d, &w) == 1;
    int unchanged = found && old.text != NULL && old.len == len && memcmp(old.text, text, len) == 0;
    /* The step every rollout ends with is audited as such, whoever takes it. */
    const char *action = !found ? "policy.create"
                         : to_enforce && !(old.valid && old.policy.mode == POLICY_MODE_ENFORCE)
                             ? "enforce"
                             : "policy.change";
    hosted_policy_clear(&old);
    if (write_policy(h, d, text, len, unchanged, now, res->id, &res->new_id, res->error,
                     sizeof(res->error)) != 0)
        return -2;
    res->change = unchanged ? HOSTED_UNCHANGED : found ? HOSTED_CHANGED : HOSTED_CREATED;
    if (withdrawing && db_withdrawal_delete(db, d) != 0) {
        snprintf(res->error, sizeof(res->error), "cannot cancel the withdrawal: %s", db_errmsg(db));
        return -2;
    }
    if ((!unchanged || withdrawing) &&
        hosted__audit(h, actor, action, d, res->old_id, res->id,
                      withdrawing ? "withdrawal cancelled" : NULL, now) != 0) {
        snprintf(res->error, sizeof(res->error), "cannot write the audit row: %s", db_errmsg(db));
        return -2;
    }
    return 0;
}

/* Remove a domain's file (gone already is fine) and end its withdrawal; audited as "remove".
 * 0, or -1 with err. */
static int remove_policy(struct hosted *h, struct db *db, const char *d, const char *old_id,
                         const char *actor, const char *detail, int64_t now, char *err,
                         size_t errlen)
{
    char *path = hosted__policy_path(h, d);
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    free(path);
    if (rc == 0 && (db_withdrawal_delete(db, d) != 0 ||
                    hosted__audit(h, actor, "remove", d, old_id, NULL, detail, now) != 0)) {
        snprintf(err, errlen, "cannot record the removal: %s", db_errmsg(db));
        rc = -1;
    }
    return rc;
}

int hosted_policy_withdraw(struct hosted *h, const char *domain, int at_once, const char *actor,
                           int64_t now, int64_t *until, char *err, size_t errlen)
{
    char d[254];
    *until = now;
    if (hosted__domain(domain, d) != 0)
        return 0;
    struct hosted_policy old;
    int got = hosted_policy_get(h, d, 0, &old);
    if (got == 0)
        return 0;
    struct db *db = hosted__db_rw(h, err, errlen);
    if (db == NULL) {
        hosted_policy_clear(&old);
        return -1;
    }
    char old_id[33];
    content_id(h, &old, now, old_id);
    /* Senders may hold the old policy for its max_age (a broken file: the longest one). */
    long max_age = old.valid ? old.policy.max_age : POLICY_MAX_AGE_LIMIT;
    hosted_policy_clear(&old);
    if (at_once)
        return remove_policy(h, db, d, old_id, actor, NULL, now, err, errlen) == 0 ? 1 : -1;
    struct db_withdrawal w;
    if (db_withdrawal_get(db, d, &w) == 1) { /* already under way: its end stays */
        *until = w.until;
        return 1;
    }
    char *text = NULL, field[32], new_id[33];
    size_t len = 0;
    int is_new = 0;
    if (hosted_policy_compose(POLICY_MODE_NONE, NULL, 0, max_age, &text, &len, field, err,
                              errlen) != 0 ||
        write_policy(h, d, text, len, 0, now, new_id, &is_new, err, errlen) != 0) {
        free(text);
        return -1;
    }
    free(text);
    memset(&w, 0, sizeof(w));
    snprintf(w.domain, sizeof(w.domain), "%s", d);
    w.started = now;
    w.until = now + max_age;
    snprintf(w.old_id, sizeof(w.old_id), "%s", old_id);
    char detail[64], t[21];
    format_rfc3339((time_t)w.until, t);
    snprintf(detail, sizeof(detail), "mode none until %s", t);
    if (db_withdrawal_put(db, &w) != 0 ||
        hosted__audit(h, actor, "withdraw", d, old_id, new_id, detail, now) != 0) {
        snprintf(err, errlen, "cannot record the withdrawal: %s", db_errmsg(db));
        return -1;
    }
    *until = w.until;
    return 1;
}

int hosted_withdrawals_expire(struct hosted *h, int64_t now)
{
    char err[256];
    struct db *db = hosted__db_rw(h, err, sizeof(err));
    struct db_withdrawal *w = NULL;
    size_t n = 0;
    if (db == NULL || db_withdrawals(db, now, &w, &n) != 0)
        return -1;
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        struct hosted_policy p;
        char id[33];
        int got = hosted_policy_get(h, w[i].domain, 0, &p);
        content_id(h, &p, now, id);
        /* A policy put back by hand meanwhile stays; only its withdrawal ends. */
        int kept = got == 1 && p.valid && p.policy.mode != POLICY_MODE_NONE;
        hosted_policy_clear(&p);
        if (kept) {
            if (db_withdrawal_delete(db, w[i].domain) != 0)
                removed = -1;
        } else if (remove_policy(h, db, w[i].domain, id, "stsd", "withdrawal ended", now, err,
                                 sizeof(err)) != 0) {
            removed = -1;
        } else if (removed >= 0) {
            removed++;
        }
    }
    free(w);
    return removed;
}

int hosted_audit_list(struct hosted *h, const char *domain, int64_t limit,
                      struct hosted_audit **out, size_t *n)
{
    char err[256];
    struct db_audit *v = NULL;
    *out = NULL;
    *n = 0;
    struct db *db = hosted_db(h, err, sizeof(err));
    if (db == NULL || db_audit_list(db, domain, limit, &v, n) != 0)
        return -1;
    *out = xcalloc(*n ? *n : 1, sizeof(**out));
    for (size_t i = 0; i < *n; i++) /* the strings move */
        (*out)[i] = (struct hosted_audit){v[i].id,     v[i].at,     v[i].actor,  v[i].action,
                                          v[i].domain, v[i].old_id, v[i].new_id, v[i].detail};
    free(v);
    return 0;
}

void hosted_audit_free(struct hosted_audit *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].actor);
        free(v[i].action);
        free(v[i].domain);
        free(v[i].old_id);
        free(v[i].new_id);
        free(v[i].detail);
    }
    free(v);
}
