/*
 * server.h - `stsd serve`: the HTTPS server hosting MTA-STS policies (RFC 8461 §3.3)
 * and, through its modules, TLS-RPT report intake and the admin listener.
 */
#ifndef STSD_SERVER_H
#define STSD_SERVER_H

#include "common/config.h"

enum srv_status {
    SRV_STOPPED = 0,       /* graceful stop after SIGTERM/SIGINT */
    SRV_FORCED = 1,        /* a second SIGTERM/SIGINT ended the drain */
    SRV_CONFIG_ERROR = 2,  /* could not start: configuration, port in use, directories */
    SRV_RUNTIME_ERROR = 3, /* could not start or run for another reason */
};

/* server.c */
/*
 * Run the server with cfg until SIGTERM/SIGINT (SIGHUP reloads policies and certificates).
 * Creates the state directory and what hosted/ keeps in it when missing. Everything it has to say
 * goes to the log (stderr); the caller maps the status to an exit code.
 */
enum srv_status srv_run(const struct stsd_config *cfg);

/* ---------------------------------------------------------------- checks (check_facts.c) */

struct hosted;
struct check_opts;
struct check_result;
struct check_hosted_facts;
/*
 * What the hosted/ handle `h` (a struct hosted *) hosts for `domain`, as the checker's facts:
 * the policy file and the recorded id of its content (an unrecorded content has id "": a
 * HOSTED_READ_ONLY handle records nothing), the ids of the domain's other versions, and the
 * certificate serving mta-sts.<domain>. The shape of check_opts.hosted_facts: set
 * hosted_facts = srv_check_facts and hosted_ctx = h.
 */
void srv_check_facts(void *h, const char *domain, struct check_hosted_facts *out);
/* The check options of serve's self-checks ([checks] resolver, ca_file, smtp_port,
 * https_port; private addresses skipped unless allow_private); *o is zeroed first. */
void srv_check_opts(const struct stsd_config *cfg, struct check_opts *o);

/* selfcheck.c */
/*
 * "Check now": check one domain synchronously with srv_check_opts(cfg), on the calling
 * thread (a worker thread, never an event loop: against servers that never answer it takes
 * up to about 12 steps of the checker's 10 s timeout, two minutes).
 * With h (not NULL) the result is compared with what h hosts (sts.txt.stale-id,
 * sts.hosted.mismatch, sts.host.cert-expiring, "hosted" in the JSON). `h` belongs to the
 * calling thread (one thread at a time per struct hosted).
 *   store = 0: the API's POST /api/v1/check of any domain; nothing is stored.
 *   store = 1: the dashboard's "check now" of a hosted domain; requires h; the result is
 *              stored like a scheduled check (hosted_check_store, the domain's JSON as the
 *              result column; older runs pruned) and a new error raises the regression
 *              webhook of the self-check thread when it runs one.
 * *out receives the typed result (check_result_free it, also on failure). Returns the worst
 * severity (enum check_severity); -1 with err when the check could not run (no resolver
 * answered: out->unavailable, still stored with status 69; a bad [checks] option or an
 * invalid store request: !out->ran); -2 with err when it ran but could not be stored.
 */
int srv_check_domain(struct hosted *h, const struct stsd_config *cfg, const char *domain, int store,
                     struct check_result *out, char *err, size_t errlen);

#endif
