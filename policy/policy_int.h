/* policy_int.h - declarations shared by the files of policy/ only. */
#ifndef STSD_POLICY_INT_H
#define STSD_POLICY_INT_H

#include "policy/policy.h"
#include "common/common.h"

#include <stddef.h>

/* Why an mx pattern is not valid: a domain optionally prefixed with "*." (RFC 8461 §3.2). */
const char *policy__mx_problem(const char *s, size_t n);

/*
 * Quote at most max bytes of s[0..n) for a message into out, escaping what is not printable
 * as \xHH and marking a cut with "...". out holds 200 bytes, enough for max <= 48. Returns out.
 */
const char *policy__quote(char out[200], const char *s, size_t n, size_t max);

/* ASCII-only helpers: the parsers must not depend on the locale. */
static inline int policy__is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline int policy__is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline int policy__is_alnum(int c)
{
    return policy__is_alpha(c) || policy__is_digit(c);
}
static inline int policy__is_wsp(int c)
{
    return c == ' ' || c == '\t';
}
static inline int policy__lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

#endif
