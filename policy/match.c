/* match.c - mx pattern syntax and matching (RFC 8461 §3.2, §4.1). */
#include "policy/policy_int.h"

#include <string.h>

const char *policy__mx_problem(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '*' && s[1] == '.')
        return domain_problem(s + 2, n - 2);
    return domain_problem(s, n);
}

int policy_domain_valid(const char *s)
{
    return domain_valid(s);
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
