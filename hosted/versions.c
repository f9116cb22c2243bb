/* versions.c - policy versions: the id of every content a domain's policy file has had. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "sql/db.h"

#include <stdlib.h>
#include <string.h>

int hosted_version_record(struct hosted *h, const char *domain, const unsigned char sha256[32],
                          int64_t now, char id_out[33], int *is_new)
{
    char err[256], d[254];
    *is_new = 0;
    id_out[0] = '\0';
    struct db *db = hosted_db(h, err, sizeof(err));
    if (db == NULL || hosted__domain(domain, d) != 0)
        return -1;
    if (h->flags & HOSTED_READ_ONLY) /* look up only: a content never seen keeps id "" */
        return db_policy_version_find(db, d, sha256, id_out) < 0 ? -1 : 0;
    return db_policy_version_record(db, d, sha256, now, id_out, is_new);
}

int hosted_versions(struct hosted *h, const char *domain, struct hosted_version **out, size_t *n)
{
    char err[256], d[254];
    *out = NULL;
    *n = 0;
    struct db *db = hosted_db(h, err, sizeof(err));
    if (db == NULL || hosted__domain(domain, d) != 0)
        return -1;
    struct db_policy_version *v = NULL;
    if (db_policy_versions(db, d, &v, n) != 0)
        return -1;
    *out = xcalloc(*n ? *n : 1, sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        memcpy((*out)[i].id, v[i].id, sizeof((*out)[i].id));
        memcpy((*out)[i].sha256_hex, v[i].sha256_hex, sizeof((*out)[i].sha256_hex));
        (*out)[i].first_seen = v[i].first_seen;
    }
    free(v);
    return 0;
}
