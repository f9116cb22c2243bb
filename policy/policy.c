/* policy.c - parsing, validation and canonical formatting of MTA-STS policy bodies. */
#include "policy/policy_int.h"
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The grammar is RFC 8461 §3.2 (with erratum 6253: LF or CRLF):
 *
 *   sts-policy-record = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP)
 *                       [sts-policy-term]
 *   field             = name ":" *WSP value
 *   sts-policy-term   = LF / CRLF
 *
 * Decisions where the RFC is silent or where real files stray from the grammar. Where the
 * meaning is never in doubt the file is read and the operator is warned (a strict sender
 * might still refuse such a body as it is; policy_format() gives the strictly valid
 * canonical text, which is what `stsd policy set` writes):
 *  - Lines end with LF or CRLF, freely mixed; the last line needs no terminator. A CR that
 *    is not followed by LF is an error.
 *  - Blank lines (empty or only spaces/tabs) are skipped with a warning.
 *  - Whitespace before the key or between the key and ':' is skipped with a warning;
 *    whitespace after ':' and at the end of the line is allowed by the grammar and dropped.
 *  - Keys are case-sensitive (%s in the ABNF): "Mode" is an unknown key (warning, with a
 *    hint), and then "mode" is missing (error).
 *  - A NUL byte or any other control character (except TAB) is an error on its line.
 *  - Bytes >= 0x80 must be valid UTF-8; the RFC allows UTF-8 only in extension values, so
 *    in version/mode/max_age/mx they make the value invalid (an mx must be in A-labels).
 *  - A UTF-8 byte-order mark before "version" is an error (the first field must be
 *    "version"), with a message that says so.
 *  - A body of 64 KiB or more is an error and is not parsed at all.
 *  - Repeated version/mode/max_age: the first wins, the others are warnings. A repeated
 *    mx (after lowercasing) is dropped with a warning. Unknown keys are warnings.
 *  - Missing mode/max_age, or no mx line at all while mode is not none, are errors reported
 *    on the last line of the file (an mx line that is invalid has its own error already).
 *  - Keys follow the extension-name rule (letter or digit first, then letters, digits, '_',
 *    '-', '.'; at most 32); a line without ':' or with another key is an error. A known key
 *    with an empty value is an error.
 *  - max_age "0" is valid (1*10 DIGIT, at most 31557600); leading zeros are allowed.
 *  - An mx is a host name of at least two labels in A-labels; "*.com" and "localhost" are
 *    refused, and so is a name whose last label is all digits (an IPv4 address).
 */

static const char *const mode_names[] = {"none", "testing", "enforce"};

const char *policy_mode_name(enum policy_mode m)
{
    if ((unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]))
        return mode_names[m];
    return "?";
}

int policy_mode_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, mode_names[i]) == 0)
            return i;
    }
    return -1;
}

static void diag_add(struct policy_diag *d, int line, enum policy_severity sev,
                     enum policy_diag_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void diag_add(struct policy_diag *d, int line, enum policy_severity sev,
                     enum policy_diag_kind kind, const char *fmt, ...)
{
    if (d == NULL)
        return;
    if (sev == POLICY_SEV_ERROR)
        d->n_errors++;
    else
        d->n_warnings++;
    size_t slot = d->n;
    size_t cap = sizeof(d->items) / sizeof(d->items[0]);
    if (slot >= cap) {
        /* Full: an error still replaces the last item when no error is stored yet, so
         * that the first error is never lost behind a flood of warnings. */
        if (sev != POLICY_SEV_ERROR || d->n_errors > 1)
            return;
        slot = cap - 1;
    } else {
        d->n++;
    }
    struct policy_diag_item *it = &d->items[slot];
    it->line = line;
    it->severity = sev;
    it->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof(it->message), fmt, ap);
    va_end(ap);
}

const char *policy_diag_first(const struct policy_diag *diag, char *buf, size_t bufsz)
{
    if (bufsz == 0)
        return buf;
    buf[0] = '\0';
    if (diag == NULL || diag->n == 0)
        return buf;
    const struct policy_diag_item *it = &diag->items[0];
    for (size_t i = 0; i < diag->n; i++) {
        if (diag->items[i].severity == POLICY_SEV_ERROR) {
            it = &diag->items[i];
            break;
        }
    }
    snprintf(buf, bufsz, "line %d: %s", it->line, it->message);
    return buf;
}

const char *policy__quote(char out[200], const char *s, size_t n, size_t max)
{
    size_t o = 0;
    size_t lim = n > max ? max : n;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        }
    }
    if (lim < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Quote at most 48 bytes of a value for a message. */
static const char *quote(char out[200], const char *s, size_t n)
{
    return policy__quote(out, s, n, 48);
}

struct parser {
    struct policy *out;
    struct policy_diag *diag;
    int line;
    int fields;       /* field lines seen */
    int version_line; /* first line of each key, 0 if not seen */
    int mode_line;
    int max_age_line;
    int first_error; /* the first field was not version */
    int mx_lines;    /* mx lines seen, valid or not (an empty one too) */
    size_t mx_cap;
};

#define ERR(p, ...)                                                                                \
    diag_add((p)->diag, (p)->line, POLICY_SEV_ERROR, POLICY_DIAG_SYNTAX, __VA_ARGS__)
#define WARN(p, kind, ...) diag_add((p)->diag, (p)->line, POLICY_SEV_WARNING, kind, __VA_ARGS__)

static int key_is(const char *k, size_t kn, const char *name)
{
    return strlen(name) == kn && memcmp(k, name, kn) == 0;
}

static int key_is_nocase(const char *k, size_t kn, const char *name)
{
    if (strlen(name) != kn)
        return 0;
    for (size_t i = 0; i < kn; i++) {
        if (policy__lower((unsigned char)k[i]) != name[i])
            return 0;
    }
    return 1;
}

/* A repeated non-mx key: the first occurrence wins, with a warning. */
static int duplicate(struct parser *p, int *first_line, const char *key)
{
    if (*first_line == 0) {
        *first_line = p->line;
        return 0;
    }
    WARN(p, POLICY_DIAG_DUPLICATE_KEY, "duplicate '%s' ignored; the one on line %d applies", key,
         *first_line);
    return 1;
}

static void field_version(struct parser *p, const char *v, size_t vn)
{
    char q[200];
    if (duplicate(p, &p->version_line, "version"))
        return;
    if (!(vn == 5 && memcmp(v, "STSv1", 5) == 0))
        ERR(p, "version '%s' is not STSv1", quote(q, v, vn));
}

static void field_mode(struct parser *p, const char *v, size_t vn)
{
    char q[200];
    if (duplicate(p, &p->mode_line, "mode"))
        return;
    for (int i = 0; i < 3; i++) {
        if (key_is(v, vn, mode_names[i])) {
            p->out->mode = (enum policy_mode)i;
            return;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (key_is_nocase(v, vn, mode_names[i])) {
            ERR(p, "mode '%s' is not one of enforce, testing, none (lowercase: write '%s')",
                quote(q, v, vn), mode_names[i]);
            return;
        }
    }
    ERR(p, "mode '%s' is not one of enforce, testing, none", quote(q, v, vn));
}

static void field_max_age(struct parser *p, const char *v, size_t vn)
{
    char q[200];
    if (duplicate(p, &p->max_age_line, "max_age"))
        return;
    long n = 0;
    for (size_t i = 0; i < vn; i++) {
        if (!policy__is_digit((unsigned char)v[i])) {
            ERR(p, "max_age '%s' is not a number of seconds (1-10 digits)", quote(q, v, vn));
            return;
        }
        if (n <= POLICY_MAX_AGE_LIMIT)
            n = n * 10 + (v[i] - '0');
    }
    if (vn > 10) {
        ERR(p, "max_age '%s' has more than 10 digits", quote(q, v, vn));
        return;
    }
    if (n > POLICY_MAX_AGE_LIMIT) {
        ERR(p, "max_age %s is larger than the maximum 31557600 (one year)", quote(q, v, vn));
        return;
    }
    p->out->max_age = n;
}

static void field_mx(struct parser *p, const char *v, size_t vn)
{
    char q[200];
    const char *problem = policy__mx_problem(v, vn);
    if (problem != NULL) {
        ERR(p, "mx '%s' %s", quote(q, v, vn), problem);
        return;
    }
    char *mx = xstrndup(v, vn);
    for (size_t i = 0; i < vn; i++)
        mx[i] = (char)policy__lower((unsigned char)mx[i]);
    struct policy *out = p->out;
    for (size_t i = 0; i < out->n_mx; i++) {
        if (strcmp(out->mx[i], mx) == 0) {
            WARN(p, POLICY_DIAG_DUPLICATE_KEY, "mx '%s' is listed twice; the repeat is ignored",
                 mx);
            free(mx);
            return;
        }
    }
    if (out->n_mx == p->mx_cap) {
        p->mx_cap = p->mx_cap ? p->mx_cap * 2 : 4;
        out->mx = xrealloc(out->mx, p->mx_cap * sizeof(*out->mx));
    }
    out->mx[out->n_mx++] = mx;
}

static const char *const known_keys[] = {"version", "mode", "max_age", "mx"};

static void field_line(struct parser *p, const char *s, size_t n)
{
    char q[200];
    size_t i = 0;
    while (i < n && policy__is_wsp((unsigned char)s[i]))
        i++;
    if (i == n) {
        WARN(p, POLICY_DIAG_STYLE, "blank line ignored");
        return;
    }
    if (i > 0)
        WARN(p, POLICY_DIAG_STYLE, "whitespace before the key ignored");
    if (p->line == 1 && n - i >= 3 && memcmp(s + i, "\xef\xbb\xbf", 3) == 0) {
        ERR(p, "the file starts with a UTF-8 byte-order mark; save it without one");
        p->first_error = 1;
        p->fields++;
        return;
    }
    const char *colon = memchr(s + i, ':', n - i);
    if (colon == NULL) {
        ERR(p, "expected 'key: value', found '%s'", quote(q, s + i, n - i));
        if (p->fields++ == 0)
            p->first_error = 1;
        return;
    }
    const char *k = s + i;
    size_t kn = (size_t)(colon - k);
    if (kn > 0 && policy__is_wsp((unsigned char)k[kn - 1])) {
        while (kn > 0 && policy__is_wsp((unsigned char)k[kn - 1]))
            kn--;
        WARN(p, POLICY_DIAG_STYLE, "whitespace between the key and ':' ignored");
    }
    const char *v = colon + 1;
    size_t vn = n - (size_t)(v - s);
    while (vn > 0 && policy__is_wsp((unsigned char)*v))
        v++, vn--;
    while (vn > 0 && policy__is_wsp((unsigned char)v[vn - 1]))
        vn--;

    /* sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
    int key_ok = kn > 0 && policy__is_alnum((unsigned char)k[0]);
    for (size_t j = 1; key_ok && j < kn; j++) {
        unsigned char c = (unsigned char)k[j];
        key_ok = policy__is_alnum(c) || c == '_' || c == '-' || c == '.';
    }
    if (!key_ok) {
        ERR(p, "'%s' is not a valid key (letters, digits, '_', '-', '.')", quote(q, k, kn));
    } else if (kn > 32) {
        ERR(p, "key '%s' is longer than 32 characters", quote(q, k, kn));
        key_ok = 0;
    }
    if (p->fields++ == 0 && !(key_ok && key_is(k, kn, "version"))) {
        ERR(p, "the first field must be 'version: STSv1'");
        p->first_error = 1;
    }
    if (!key_ok)
        return;
    if (vn == 0) {
        ERR(p, "'%s' has no value", quote(q, k, kn));
        if (key_is(k, kn, "mode") && p->mode_line == 0)
            p->mode_line = p->line;
        if (key_is(k, kn, "max_age") && p->max_age_line == 0)
            p->max_age_line = p->line;
        if (key_is(k, kn, "version") && p->version_line == 0)
            p->version_line = p->line;
        if (key_is(k, kn, "mx"))
            p->mx_lines++;
        return;
    }
    if (key_is(k, kn, "version")) {
        field_version(p, v, vn);
    } else if (key_is(k, kn, "mode")) {
        field_mode(p, v, vn);
    } else if (key_is(k, kn, "max_age")) {
        field_max_age(p, v, vn);
    } else if (key_is(k, kn, "mx")) {
        p->mx_lines++;
        field_mx(p, v, vn);
    } else {
        for (size_t j = 0; j < sizeof(known_keys) / sizeof(known_keys[0]); j++) {
            if (key_is_nocase(k, kn, known_keys[j])) {
                WARN(p, POLICY_DIAG_UNKNOWN_KEY,
                     "unknown key '%s' ignored (keys are case-sensitive: write '%s')",
                     quote(q, k, kn), known_keys[j]);
                return;
            }
        }
        WARN(p, POLICY_DIAG_UNKNOWN_KEY, "unknown key '%s' ignored", quote(q, k, kn));
    }
}

/* Control characters and UTF-8 of one line (without its terminator); 0 if clean. */
static int check_bytes(struct parser *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) {
            ERR(p, "NUL byte at column %zu", i + 1);
            return -1;
        }
        if (c == '\r') {
            ERR(p, "carriage return not followed by a line feed at column %zu", i + 1);
            return -1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            ERR(p, "control character 0x%02x at column %zu", c, i + 1);
            return -1;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned cp;
        size_t l = text_utf8_seq((const unsigned char *)s + i, n - i, &cp);
        if (l == 0) {
            ERR(p, "invalid UTF-8 at column %zu", i + 1);
            return -1;
        }
        i += l;
    }
    return 0;
}

int policy_parse(const char *buf, size_t len, struct policy *out, struct policy_diag *diag)
{
    /* Without a caller's diag the counts are kept in a local one. */
    struct policy_diag local;
    if (diag == NULL)
        diag = &local;
    memset(out, 0, sizeof(*out));
    /* Only the counts: items are written as they are added (a diag is 6.8 KB and the
     * store keeps one per domain). */
    diag->n = diag->n_errors = diag->n_warnings = 0;
    if (len >= POLICY_MAX_BODY) {
        diag_add(diag, 1, POLICY_SEV_ERROR, POLICY_DIAG_SIZE,
                 "the policy is %zu bytes; it must be smaller than 64 KiB", len);
        return -1;
    }
    struct parser p = {.out = out, .diag = diag};
    size_t pos = 0;
    while (pos < len) {
        p.line++;
        const char *s = buf + pos;
        const char *eol = memchr(s, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - s) : len - pos;
        pos += n + (eol ? 1 : 0);
        if (eol && n > 0 && s[n - 1] == '\r')
            n--;
        if (check_bytes(&p, s, n) != 0) {
            if (p.fields++ == 0)
                p.first_error = 1;
            continue;
        }
        field_line(&p, s, n);
    }
    if (p.line == 0)
        p.line = 1;
    if (p.fields == 0) {
        ERR(&p, "the policy is empty; it must start with 'version: STSv1'");
    } else {
        if (p.version_line == 0 && !p.first_error)
            ERR(&p, "missing required field 'version'");
        if (p.mode_line == 0)
            ERR(&p, "missing required field 'mode'");
        if (p.max_age_line == 0)
            ERR(&p, "missing required field 'max_age'");
        /* An invalid mx already has its error; do not add a second one for it. */
        if (p.mode_line != 0 && out->mode != POLICY_MODE_NONE && p.mx_lines == 0)
            ERR(&p, "mode %s needs at least one 'mx' line", policy_mode_name(out->mode));
    }
    return diag->n_errors > 0 ? -1 : 0;
}

void policy_clear(struct policy *p)
{
    if (p == NULL)
        return;
    strv_free(p->mx, p->n_mx);
    memset(p, 0, sizeof(*p));
}

char *policy_format(const struct policy *p, size_t *len)
{
    size_t cap = 64;
    for (size_t i = 0; i < p->n_mx; i++)
        cap += strlen(p->mx[i]) + 6;
    char *out = xmalloc(cap);
    size_t o =
        (size_t)snprintf(out, cap, "version: STSv1\r\nmode: %s\r\n", policy_mode_name(p->mode));
    for (size_t i = 0; i < p->n_mx; i++)
        o += (size_t)snprintf(out + o, cap - o, "mx: %s\r\n", p->mx[i]);
    o += (size_t)snprintf(out + o, cap - o, "max_age: %ld\r\n", p->max_age);
    if (len != NULL)
        *len = o;
    return out;
}
