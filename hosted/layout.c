/* layout.c - where the hosted state lives in the state directory, and the handle over it. */
#include "hosted/hosted_int.h"
#include "common/common.h"
#include "common/config.h"
#include "sql/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *hosted_path_db(const struct stsd_config *cfg)
{
    return xasprintf("%s/stsd.db", cfg->state_dir);
}

char *hosted_path_policies(const struct stsd_config *cfg)
{
    return xasprintf("%s/policies", cfg->state_dir);
}

char *hosted_path_acme(const struct stsd_config *cfg)
{
    return xasprintf("%s/acme", cfg->state_dir);
}

static char *cert_dir_of(const struct stsd_config *cfg)
{
    return cfg->cert_dir != NULL ? xstrdup(cfg->cert_dir) : xasprintf("%s/certs", cfg->state_dir);
}

int hosted__domain(const char *domain, char out[254])
{
    return domain_normalise(domain, out, 254);
}

char *hosted__policy_path(const struct hosted *h, const char *canonical)
{
    return xasprintf("%s/%s.txt", h->policy_dir, canonical);
}

char *hosted_policy_file(const struct hosted *h, const char *domain)
{
    char d[254];
    return hosted__domain(domain, d) == 0 ? hosted__policy_path(h, d) : NULL;
}

struct hosted *hosted_open(const struct stsd_config *cfg, unsigned flags, char *err, size_t errlen)
{
    if (cfg == NULL || cfg->state_dir == NULL) {
        snprintf(err, errlen, "no state directory is configured; set [server] state_dir");
        return NULL;
    }
    struct hosted *h = xcalloc(1, sizeof(*h));
    h->cfg = cfg;
    h->flags = flags;
    h->policy_dir = hosted_path_policies(cfg);
    h->cert_dir = cert_dir_of(cfg);
    h->db_path = hosted_path_db(cfg);
    if (flags & HOSTED_CREATE) {
        /* 0750: the state is the operator's and [server] user's, not every local user's
         * (policy files themselves are public, keys are 0600). */
        const char *dirs[] = {cfg->state_dir, h->policy_dir, h->cert_dir};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            if (mkdir_p(dirs[i], 0750) != 0) {
                snprintf(err, errlen,
                         "cannot create %s: %s; create it or change [server] state_dir "
                         "(or [tls] cert_dir)",
                         dirs[i], strerror(errno));
                hosted_close(h);
                return NULL;
            }
        }
    }
    return h;
}

void hosted_close(struct hosted *h)
{
    if (h == NULL)
        return;
    db_close(h->db);
    hosted__certs_free(h);
    free(h->policy_dir);
    free(h->cert_dir);
    free(h->db_path);
    free(h);
}

const struct stsd_config *hosted_config(const struct hosted *h)
{
    return h->cfg;
}

const char *hosted_policy_dir(const struct hosted *h)
{
    return h->policy_dir;
}

const char *hosted_cert_dir(const struct hosted *h)
{
    return h->cert_dir;
}

struct db *hosted_db(struct hosted *h, char *err, size_t errlen)
{
    if (h->db != NULL)
        return h->db;
    if (h->flags & HOSTED_NO_DB) {
        snprintf(err, errlen, "the database is not used here");
        return NULL;
    }
    if (h->flags & HOSTED_READ_ONLY) {
        /* A missing database stays missing: opening would create it. */
        if (access(h->db_path, F_OK) != 0) {
            snprintf(err, errlen, "%s: no database yet", h->db_path);
            return NULL;
        }
        h->db = db_open_readonly(h->db_path, err, errlen);
        return h->db;
    }
    if ((h->flags & HOSTED_CREATE) && mkdir_p(h->cfg->state_dir, 0750) != 0) {
        snprintf(err, errlen, "cannot create the state directory %s: %s", h->cfg->state_dir,
                 strerror(errno));
        return NULL;
    }
    h->db = db_open(h->db_path, err, errlen);
    return h->db;
}

struct db *hosted__db_rw(struct hosted *h, char *err, size_t errlen)
{
    if (h->flags & HOSTED_READ_ONLY) {
        snprintf(err, errlen, "opened read-only: nothing may be changed");
        return NULL;
    }
    return hosted_db(h, err, errlen);
}
