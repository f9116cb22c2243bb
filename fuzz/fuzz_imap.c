/* fuzz_imap.c - libFuzzer target: the IMAP pull's parsers (mail/imap_parse.c) over arbitrary
 * bytes: the URL, SEARCH, LIST and CAPABILITY answers, and the names written into commands,
 * checking what they promise (sorted unique UIDs under the cap, terminated outputs). */
#include "mail/imap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_UIDS 64 /* small, so that inputs reach the cap */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    uint32_t uids[MAX_UIDS];
    int capped = 0;
    size_t n = mail_imap_parse_search(buf, size, uids, MAX_UIDS, &capped);
    if (n > MAX_UIDS || (capped && n == 0))
        abort();
    for (size_t i = 0; i < n; i++)
        if (uids[i] == 0 || (i > 0 && uids[i] <= uids[i - 1]))
            abort(); /* sorted, no repeats, no 0 */
    char set[MAX_UIDS * 22 + 1];
    if (n > 0 && (mail_imap_uid_set(uids, n, set, sizeof(set)) != 0 || strlen(set) == 0))
        abort();
    char delim = 'x';
    mail_imap_parse_delimiter(buf, size, &delim);
    int caps = mail_imap_parse_caps(buf, size);
    if (caps & ~(MAIL_IMAP_CAP_MOVE | MAIL_IMAP_CAP_UIDPLUS))
        abort();

    /* the text up to a NUL, as a URL and a folder name */
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct mail_imap_url u;
    char err[200];
    if (mail_imap_url_parse(s, &u, err, sizeof(err)) == 0) {
        if (u.port < 1 || u.port > 65535 || u.user[0] == '\0' || u.host[0] == '\0' ||
            u.folder[0] == '\0')
            abort();
        char name[MAIL_IMAP_FIELD], q[2 * MAIL_IMAP_FIELD + 3], e[3 * MAIL_IMAP_FIELD + 1];
        if (mail_imap_folder_name(u.folder, delim == 'x' ? '.' : delim, name, sizeof(name)) != 0 ||
            mail_imap_quote(name, q, sizeof(q)) != 0 || mail_imap_url_encode(name, e, sizeof(e)))
            abort(); /* a folder the URL parser accepts can always be named to the server */
        if (strpbrk(e, "/;?# \"") != NULL)
            abort(); /* nothing that ends a URL's path or a quoted string */
    }
    char name[64], q[140];
    if (mail_imap_folder_name(s, '.', name, sizeof(name)) == 0 &&
        (strchr(name, '/') != NULL || mail_imap_quote(name, q, sizeof(q)) != 0 || q[0] != '"'))
        abort();
    free(s);
    return 0;
}
