/*
 * common.h - small helpers every module may use: allocation that aborts on
 * out-of-memory, logfmt logging to stderr, and parsers for sizes, durations
 * and dates used by the configuration and the command line.
 */
#ifndef STSD_COMMON_H
#define STSD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* alloc.c: out of memory aborts (OpenSMTPD's xmalloc); never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new malloc'd string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A list of n malloc'd strings: append a copy of s; free every string and the array. */
void strv_push(char ***v, size_t *n, const char *s);
void strv_free(char **v, size_t n);

/* log.c: one logfmt line per event on stderr:
 *   level=info event=report.stored id=42 org="Google Inc."
 * `fields` is a printf format producing the rest of the line (key=value ...);
 * use log_quote() for values that may hold spaces or quotes. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level min);
void log_event(enum log_level level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));
/* Quote a value for logfmt into buf (always NUL-terminated, truncated with "...").
 * Returns buf. */
const char *log_quote(char *buf, size_t bufsz, const char *value);
/* A logfmt value: bare when it is printable ASCII without space, quote, = or backslash
 * (domain=example.com), else log_quote'd. Returns buf. */
const char *log_field(char *buf, size_t bufsz, const char *value);

/* parse.c: strict parsers; return 0 on success, -1 on bad input. */
/* "10M", "512k", "1G", "100" (bytes); suffixes k/K M G are powers of 1024. */
int parse_size(const char *s, uint64_t *out);
/* "6h", "30m", "45s", "7d", "90" (seconds). */
int parse_duration(const char *s, int64_t *seconds);
/* "YYYY-MM-DD" (UTC midnight) or a relative "30d"/"12h" back from `now`. */
int parse_date_or_ago(const char *s, time_t now, time_t *out);
/* The report window of the CLI and the API: `since` (default 30 days back) and `until`
 * (default now), each "YYYY-MM-DD" (UTC midnight), an RFC 3339 time or a relative
 * "30d"/"12h" back from now; [since, until) in unix seconds; since after until is refused.
 * 0, or -1 with what is wrong in err, in the same words for both ("since 'x': expected
 * YYYY-MM-DD, an RFC 3339 time or a relative 30d/12h"; "since is after until"). */
int parse_window(const char *since, const char *until, time_t now, int64_t *since_out,
                 int64_t *until_out, char *err, size_t errlen);
/* RFC 3339 date-time; a missing zone is read as UTC (real senders omit it). */
int parse_rfc3339(const char *s, time_t *out);
/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into buf[21]. */
void format_rfc3339(time_t t, char buf[21]);
/* Format t as "YYYY-MM-DD" into buf[11]. */
void format_date(time_t t, char buf[11]);
/* domain.c: the one domain-name validator, used by every module: a host name in A-labels
 * (LDH labels of 1-63 octets, at most 253 octets, at least two labels, a top label that is
 * not all digits, no IP address, no wildcard, no trailing dot; RFC 8461 §3.2's rules,
 * case-insensitive). NULL when valid, else the reason, a phrase that follows the quoted name
 * in a message ("has a trailing dot; remove it"). */
const char *domain_problem(const char *s, size_t n);
int domain_valid(const char *s); /* 1 valid, 0 not (NULL is not) */
/* What users type (any case, one trailing dot) into the canonical form: lowercased, the
 * dot dropped, into out (which may be s). 0, or -1 when the rest is not valid or does not
 * fit. */
int domain_normalise(const char *s, char *out, size_t outsz);
/* The same for s[0..n), with the reason: NULL when out holds the canonical name, else the
 * phrase of domain_problem ("is too long" when it does not fit in outsz). */
const char *domain_normalise_problem(const char *s, size_t n, char *out, size_t outsz);
/* Lowercase hex of n bytes into out[2n+1] (NUL-terminated); returns out. */
char *format_hex(const void *in, size_t n, char *out);
/* The value of one hex digit, -1 when c is none; `lower_only`: A-F are not digits. */
int hex_digit(int c, int lower_only);

/* text.c: stored or remote text made safe to print.
 * text_escape copies `in` into out (outsz > 0; always NUL-terminated), keeping printable
 * UTF-8 as is and writing as escapes what a terminal would act on: C0 controls and DEL as
 * \xHH (an ESC byte is the four characters \x1b; \n \r \t as such), C1 controls, the
 * line/paragraph separators and the bidirectional controls as \uHHHH, and every byte that is
 * not valid UTF-8 as \xHH. With TEXT_ESC_QUOTES, " and \ become \" and \\ (logfmt).
 * It stops before an escape that would not fit; returns the number of input bytes consumed
 * (strlen(in) when all of it fit). */
#define TEXT_ESC_QUOTES 1u
/* Length of the valid UTF-8 sequence at p (n > 0 bytes available; RFC 3629) and its code
 * point in *cp; 0 when it is not valid UTF-8 (overlong forms, surrogates, past U+10FFFF). */
size_t text_utf8_seq(const unsigned char *p, size_t n, unsigned *cp);
size_t text_escape(char *out, size_t outsz, const char *in, unsigned flags);
/* The escaped copy of in (NULL reads as ""), malloc'd. */
char *text_escape_dup(const char *in);
/* Escaped copies that live until text_safe_free: for a printf of several fields.
 *   struct text_safe ts = {0}; printf("%s %s\n", text_safe(&ts, a), text_safe(&ts, b));
 *   text_safe_free(&ts);
 * text_safe(NULL string) is NULL. */
struct text_safe {
    char **v;
    size_t n, cap;
};
const char *text_safe(struct text_safe *ts, const char *s);
void text_safe_free(struct text_safe *ts);
/* 1 when a CSV cell holding s must start with ' so that a spreadsheet does not run it as a
 * formula: s starts with = + - @ (or a tab or CR). */
int text_csv_needs_guard(const char *s);

/* fs.c */
/* Read a whole file (at most `cap` bytes; more is an error with errno=EFBIG).
 * Returns a malloc'd NUL-terminated buffer, length in *len; NULL on error (errno set). */
char *file_read_all(const char *path, size_t cap, size_t *len);
/* Write `len` bytes to `path` atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory) with the given mode. 0 or -1 (errno set). */
int file_write_atomic(const char *path, const void *buf, size_t len, int mode);
/* The same for a file that must not exist yet: complete or absent, never replaced; -1 with
 * errno EEXIST when `path` exists (another writer came first). */
int file_create_atomic(const char *path, const void *buf, size_t len, int mode);
/* mkdir -p with the given mode for created directories. */
int mkdir_p(const char *path, int mode);
/* Bytes free for unprivileged writers on the file system holding `path` (statvfs).
 * 0 or -1 (errno set). */
int fs_free_bytes(const char *path, uint64_t *out);

/* resolver.c: the one resolver setting (`[checks] resolver`, `stsd check --resolver`). */
/* Parse "IP", "IP@PORT", "IP:PORT", "[v6]:PORT" into unbound's "IP@PORT" form. 0 or -1. */
int resolver_parse(const char *s, char *out, size_t outsz);
/* A libunbound context whose queries a thread answers (ub_fd/ub_process), forwarding to fwd
 * (unbound's "IP@PORT", from resolver_parse) or, with NULL, to the resolvers of
 * /etc/resolv.conf with DNSSEC validation when the root trust anchor is installed; the
 * special-use zone test. is asked like any other. NULL with err on failure; free it with
 * ub_ctx_delete. */
struct ub_ctx;
struct ub_ctx *resolver_new(const char *fwd, char *err, size_t errlen);

#endif
