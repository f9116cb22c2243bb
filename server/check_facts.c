/* check_facts.c - what the checker is handed about what stsd hosts (read through hosted/),
 * and the check options of serve's self-checks. */
#include "server/server.h"
#include "checker/checker.h"
#include "common/common.h"
#include "hosted/hosted.h"

#include <stdlib.h>
#include <string.h>

void srv_check_facts(void *ctx, const char *domain, struct check_hosted_facts *out)
{
    struct hosted *h = ctx;
    struct hosted_policy p;
    memset(&p, 0, sizeof(p));
    int rc = hosted_policy_get(h, domain, HOSTED_IDS, &p);
    if (rc == 1 && p.text != NULL) {
        out->has_policy = 1;
        out->policy_valid = p.valid;
        out->policy_text = xmalloc(p.len + 1);
        memcpy(out->policy_text, p.text, p.len);
        out->policy_text[p.len] = '\0';
        out->policy_len = p.len;
        /* A broken file is not served (its last good version is): no id to compare. */
        snprintf(out->current_id, sizeof(out->current_id), "%s", p.valid ? p.id : "");
        struct hosted_version *v = NULL;
        size_t n = 0;
        if (hosted_versions(h, domain, &v, &n) == 0) {
            out->old_ids = xcalloc(n ? n : 1, sizeof(char *));
            for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].id, out->current_id) != 0)
                    out->old_ids[out->n_old_ids++] = xstrdup(v[i].id);
            free(v);
        }
        const struct hosted_cert *certs = NULL;
        size_t nc = 0;
        int k = hosted_certs(h, &certs, &nc) == 0 ? hosted_cert_for(h, domain) : -1;
        if (k >= 0) {
            out->cert_found = 1;
            out->cert_not_after = certs[k].not_after;
            snprintf(out->cert_path, sizeof(out->cert_path), "%s", certs[k].file);
        }
    }
    hosted_policy_clear(&p);
}

void srv_check_opts(const struct stsd_config *cfg, struct check_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->resolver = cfg->check_resolver;
    o->ca_file = cfg->check_ca_file;
    o->smtp_port = cfg->check_smtp_port;
    o->https_port = cfg->check_https_port;
    o->no_private = !cfg->allow_private;
}
