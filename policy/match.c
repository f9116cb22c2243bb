/* match.c - host name syntax (A-labels) and mx pattern matching (RFC 8461 §3.2, §4.1). */
#include "policy/policy_int.h"

#include <string.h>

/*
 * RFC 8461 §3.2 takes "Domain" from RFC 5321 §4.1.2: labels of letters, digits and
 * hyphens, starting and ending with a letter or digit. On top of that we require what a
 * policy needs in practice: A-labels only (U-labels must be written as xn--), labels of
 * 1-63 octets, at most 253 octets, at least two labels (an mx is a fully qualified host
 * name), no trailing dot, and a top-level label that is not all digits (RFC 3696 §2), which
 * also rules out dotted-quad IPv4 addresses.
 */
const char *policy__domain_problem(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (s[n - 1] == '.')
        return "has a trailing dot; remove it";
    if (s[0] == '[' || memchr(s, ':', n) != NULL)
        return "is an IP address; write a host name";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return "is not in A-labels; write internationalized names in their xn-- form";
    }
    if (n > POLICY__DOMAIN_MAX)
        return "is longer than 253 characters";
    size_t labels = 0, start = 0;
    int all_digits = 1;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (c == '*')
                return "has a wildcard that is not a whole left-most label ('*.' prefix)";
            if (!policy__is_alnum(c) && c != '-')
                return "has a character other than letters, digits, hyphens and dots";
            if (!policy__is_digit(c))
                all_digits = 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return "has an empty label (two dots in a row or a leading dot)";
        if (len > 63)
            return "has a label longer than 63 characters";
        if (s[start] == '-' || s[i - 1] == '-')
            return "has a label that starts or ends with a hyphen";
        labels++;
        if (i < n) {
            start = i + 1;
            all_digits = 1;
        }
    }
    if (all_digits)
        return labels == 4 ? "is an IP address; write a host name"
                           : "has an all-numeric top-level label";
    if (labels < 2)
        return "is a single label; write a fully qualified host name";
    return NULL;
}

const char *policy__mx_problem(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '*' && s[1] == '.')
        return policy__domain_problem(s + 2, n - 2);
    return policy__domain_problem(s, n);
}

int policy_domain_valid(const char *s)
{
    return s != NULL && policy__domain_problem(s, strlen(s)) == NULL;
}

const char *policy_mx_problem(const char *s)
{
    return s == NULL ? "is missing" : policy__mx_problem(s, strlen(s));
}

int policy_mx_pattern_valid(const char *s)
{
    return s != NULL && policy__mx_problem(s, strlen(s)) == NULL;
}

int policy_id_valid(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= POLICY_ID_MAX || !policy__is_alnum((unsigned char)s[n]))
            return 0;
    }
    return n >= 1;
}

static int equal_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (policy__lower((unsigned char)a[i]) != policy__lower((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

/*
 * RFC 8461 §4.1: an mx pattern is either a host name, matched case-insensitively in full,
 * or "*." followed by a domain, where the wildcard stands for exactly one left-most label
 * of the host ("*.example.com" matches "mail.example.com", neither "example.com" nor
 * "a.b.example.com"). The host's trailing dot (the absolute form an MX record carries) is
 * ignored.
 */
int policy_match_mx(const char *pattern, const char *host)
{
    if (pattern == NULL || host == NULL)
        return 0;
    size_t pn = strlen(pattern), hn = strlen(host);
    if (hn > 0 && host[hn - 1] == '.')
        hn--;
    if (pn == 0 || hn == 0)
        return 0;
    if (pn >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *suffix = pattern + 1; /* ".example.com" */
        size_t sn = pn - 1;
        if (hn <= sn)
            return 0;
        size_t label = hn - sn; /* length of the host's left-most label */
        if (!equal_nocase(host + label, suffix, sn))
            return 0;
        return memchr(host, '.', label) == NULL;
    }
    return pn == hn && equal_nocase(pattern, host, hn);
}
