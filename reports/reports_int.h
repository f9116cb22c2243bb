/*
 * reports_int.h - declarations shared only between the files of reports/.
 */
#ifndef STSD_REPORTS_INT_H
#define STSD_REPORTS_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "reports/reports.h"

/*
 * The deepest nesting of arrays and objects the RFC 8460 §4.4 schema has:
 * report { policies [ { policy { policy-string [ } } ] } is five containers, and so is
 * report { policies [ { failure-details [ { } ] } ] }. Unknown fields may hold
 * structures as long as the whole document stays within this depth.
 */
#define REPORT__MAX_DEPTH 5

/* Deepest nesting of multiparts and message/rfc822 parts walked in an e-mail. */
#define REPORT__MAX_MIME_DEPTH 16
/* Most "boundary" parameters a message may mention: gmime checks every line against all
 * open boundaries, so 200,000 nested multiparts take it minutes; reports have one or two. */
#define REPORT__MAX_MIME_BOUNDARIES 256

/* report_gunzip into a buffer of exactly size + 1 bytes, for data report_gunzip_measure
 * found to inflate to `size` bytes (TOO_BIG if it produces more after all). */
enum report_gunzip_result report__gunzip_exact(const void *in, size_t inlen, size_t size,
                                               char **out, size_t *outlen);

/* report_gunzip that, on TOO_BIG, hands back what it inflated: the first `cap` bytes (in
 * *out, malloc'd, not NUL-terminated, *outlen = cap). */
enum report_gunzip_result report__gunzip_prefix(const void *in, size_t inlen, size_t cap,
                                                char **out, size_t *outlen);

/* Fill an optional error (err may be NULL) with a path and a printf-style message. */
void report__set_error(struct report_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report__set_errorv(struct report_error *err, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* 1 if s (length n) ends with the ASCII suffix, compared case-insensitively. */
int report__ends_with_ci(const char *s, size_t n, const char *suffix);

#endif
