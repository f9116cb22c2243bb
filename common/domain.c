/* domain.c - the one domain-name validator: host names in A-labels, as every module needs them. */
#include "common/common.h"

#include <string.h>

/* Longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4). */
#define DOMAIN_MAX 253

/* ASCII only: the answer must not depend on the locale. */
static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_ldh(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/*
 * RFC 8461 §3.2 takes "Domain" from RFC 5321 §4.1.2: labels of letters, digits and
 * hyphens, starting and ending with a letter or digit. On top of that we require what a
 * policy, a report and a check need in practice: A-labels only (U-labels must be written as
 * xn--), labels of 1-63 octets, at most 253 octets, at least two labels (a mail domain and
 * an mx are fully qualified), no trailing dot, and a top-level label that is not all digits
 * (RFC 3696 §2), which also rules out dotted-quad IPv4 addresses. The reason is a short
 * static phrase that follows the name in a message: "'x' <reason>".
 */
const char *domain_problem(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (s[n - 1] == '.')
        return "has a trailing dot; remove it";
    if (s[0] == '[' || memchr(s, ':', n) != NULL)
        return "is an IP address; write a host name";
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return "is not in A-labels; write internationalized names in their xn-- form";
    }
    if (n > DOMAIN_MAX)
        return "is longer than 253 characters";
    size_t labels = 0, start = 0;
    int all_digits = 1;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (c == '*')
                return "has a wildcard that is not a whole left-most label ('*.' prefix)";
            if (!is_ldh(c))
                return "has a character other than letters, digits, hyphens and dots";
            if (!is_digit(c))
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

int domain_valid(const char *s)
{
    return s != NULL && domain_problem(s, strlen(s)) == NULL;
}

const char *domain_normalise_problem(const char *s, size_t n, char *out, size_t outsz)
{
    if (s == NULL)
        return "is empty";
    if (n > 1 && s[n - 1] == '.' && s[n - 2] != '.')
        n--; /* the absolute form of a zone file ("example.com.") names the same domain */
    const char *why = domain_problem(s, n);
    if (why == NULL && n >= outsz)
        why = "is too long";
    if (why != NULL)
        return why;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    return NULL;
}

int domain_normalise(const char *s, char *out, size_t outsz)
{
    return s != NULL && domain_normalise_problem(s, strlen(s), out, outsz) == NULL ? 0 : -1;
}
