/* check.c - check_run: one poll loop (curl_multi_poll with the resolver's and the probes'
 * descriptors added) drives the DNS queries, every SMTP probe and the policy fetches of all
 * domains at once; then the caller's hosted facts are asked for, the rules run and the typed
 * result is built. */
#include "checker/checker_int.h"
#include "common/common.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unbound.h>

int64_t check__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

socklen_t check__sockaddr(struct sockaddr_storage *sa, int family, const char *ip, int port)
{
    memset(sa, 0, sizeof(*sa));
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
        if (inet_pton(AF_INET, ip, &v4->sin_addr) != 1)
            return 0;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return sizeof(*v4);
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (family != AF_INET6 || inet_pton(AF_INET6, ip, &v6->sin6_addr) != 1)
        return 0;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof(*v6);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void normalise_domain(struct check_domain *d, const char *arg)
{
    char name[256];
    const char *why = domain_normalise_problem(arg, strlen(arg), name, sizeof(name));
    if (why == NULL) {
        d->name = xstrdup(name);
        d->valid = 1;
        return;
    }
    /* Not a domain: kept lowercased, cut and printable for the check.input message. */
    size_t len = strlen(arg);
    d->name = xstrndup(arg, len > 300 ? 300 : len);
    for (char *p = d->name; *p; p++) {
        int c = tolower((unsigned char)*p);
        *p = (char)(c < 0x21 || c > 0x7e ? '?' : c);
    }
    snprintf(d->input_error, sizeof(d->input_error), "it %s", why);
}

/* ---- the loop ---- */

static void run_loop(struct check__run *run)
{
    size_t cap = 1 + CHECK_MAX_CONNS;
    struct curl_waitfd *fds = xcalloc(cap, sizeof(*fds));
    int ubfd = ub_fd(run->ub);
    /* A hard stop far beyond any legitimate run: every step has its own timeout. */
    int64_t hard = check__now_ms() + 12 * run->step_ms + 5000;
    while (check__dns_pending(run) > 0 || run->n_active > 0 || run->n_fetch_running > 0) {
        int64_t now = check__now_ms();
        size_t n = 0;
        fds[n].fd = ubfd;
        fds[n].events = CURL_WAIT_POLLIN;
        fds[n].revents = 0;
        n++;
        n += check__probe_fds(run, fds + 1, cap - 1);
        int64_t next = check__probe_next_deadline(run);
        if (now + 200 < next)
            next = now + 200; /* DNS deadlines are checked on this beat */
        int timeout = next > now ? (int)(next - now) : 0;
        int numfds = 0;
        curl_multi_poll(run->multi, fds, (unsigned)n, timeout, &numfds);
        now = check__now_ms();
        if (fds[0].revents & CURL_WAIT_POLLIN)
            ub_process(run->ub);
        check__probe_events(run, fds + 1, n - 1, now);
        check__dns_expire(run, now, now > hard);
        int running = 0;
        curl_multi_perform(run->multi, &running);
        check__fetch_collect(run);
        if (now > hard && run->n_fetch_running == 0 && check__dns_pending(run) == 0)
            break;
        if (now > hard + run->step_ms)
            break; /* transfers curl did not end itself are dropped with the multi handle */
    }
    free(fds);
}

int check_run(const struct check_opts *opts, const char *const *domains, size_t n,
              struct check_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    if (n > CHECK_MAX_DOMAINS) {
        snprintf(err, errlen, "too many domains (%zu; at most %d per run)", n, CHECK_MAX_DOMAINS);
        return -1;
    }
    char fwd[128];
    if (opts->resolver != NULL && resolver_parse(opts->resolver, fwd, sizeof(fwd)) != 0) {
        snprintf(err, errlen, "invalid resolver '%s' (use IP, IP@PORT or IP:PORT)", opts->resolver);
        return -1;
    }
    pthread_once(&curl_once, curl_init_once);
    /* A peer that hangs up while OpenSSL writes (a QUIT, a close_notify) raises SIGPIPE: keep
     * it blocked in this thread for the run, and drop one that arrived meanwhile. */
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    sigset_t pending;
    sigpending(&pending);
    int pipe_was_pending = sigismember(&pending, SIGPIPE);
    struct check__run run;
    memset(&run, 0, sizeof(run));
    run.opts = opts;
    run.smtp_port = opts->smtp_port > 0 ? opts->smtp_port : 25;
    run.https_port = opts->https_port > 0 ? opts->https_port : 443;
    run.step_ms = (int64_t)(opts->timeout > 0 ? opts->timeout : 10) * 1000;
    if (opts->ehlo_name != NULL)
        snprintf(run.ehlo, sizeof(run.ehlo), "%s", opts->ehlo_name);
    else if (gethostname(run.ehlo, sizeof(run.ehlo) - 1) != 0 || strchr(run.ehlo, '.') == NULL)
        snprintf(run.ehlo, sizeof(run.ehlo), "localhost");

    /* Normalise and de-duplicate the names. */
    run.domains = xcalloc(n ? n : 1, sizeof(*run.domains));
    for (size_t i = 0; i < n; i++) {
        struct check_domain tmp;
        memset(&tmp, 0, sizeof(tmp));
        normalise_domain(&tmp, domains[i]);
        int dup = 0;
        for (size_t j = 0; j < run.n_domains && !dup; j++)
            dup = strcmp(run.domains[j].name, tmp.name) == 0;
        if (dup)
            free(tmp.name);
        else
            run.domains[run.n_domains++] = tmp;
    }

    int rc = 0, setup_failed = 0;
    run.ub = resolver_new(opts->resolver ? fwd : NULL, err, errlen);
    if (run.ub != NULL)
        run.ssl = check__tls_ctx_new(opts->ca_file, err, errlen);
    if (run.ub == NULL || run.ssl == NULL) {
        rc = -1;
        setup_failed = 1; /* nothing was checked: no JSON */
        goto out;
    }
    run.multi = curl_multi_init();

    size_t n_valid = 0;
    for (size_t i = 0; i < run.n_domains; i++)
        if (run.domains[i].valid) {
            check__dns_start(&run, &run.domains[i]);
            n_valid++;
        }
    run_loop(&run);
    if (n_valid > 0 && !run.dns_answered &&
        !check__dns_ping(opts->resolver ? fwd : NULL, run.step_ms < 2000 ? run.step_ms : 2000)) {
        snprintf(err, errlen, "no DNS answer from %s%s within %lld s",
                 opts->resolver ? "the resolver " : "the resolvers in ",
                 opts->resolver ? opts->resolver : "/etc/resolv.conf",
                 (long long)(run.step_ms / 1000));
        rc = -1;
    }

out:;
    int64_t now = (int64_t)time(NULL);
    int worst = CHECK_INFO;
    if (!setup_failed) {
        out->ran = 1;
        out->unavailable = rc != 0;
        out->domains = xcalloc(run.n_domains ? run.n_domains : 1, sizeof(*out->domains));
    }
    for (size_t i = 0; i < run.n_domains && !setup_failed; i++) {
        struct check_domain *d = &run.domains[i];
        if (rc != 0 && d->valid) {
            check__finding_add(d, "dns.resolver", CHECK_ERROR, NULL,
                               opts->resolver ? opts->resolver : "/etc/resolv.conf",
                               "Check that the resolver runs and is reachable (or name "
                               "one with --resolver IP[@PORT]).",
                               "the check could not run: %s", err);
        } else {
            if (rc == 0 && opts->hosted_facts != NULL && d->valid) {
                opts->hosted_facts(opts->hosted_ctx, d->name, &d->hosted);
                d->hosted_given = 1;
            }
            check__rules(d, now);
        }
        enum check_severity w = check__worst(d);
        if ((int)w > worst)
            worst = (int)w;
        check__result_domain(d, now, &out->domains[out->n_domains++]);
    }
    out->worst = (enum check_severity)worst;

    if (run.multi != NULL) {
        check__fetch_free_all(&run);
        curl_multi_cleanup(run.multi);
    }
    check__probe_free_all(&run);
    if (run.ub != NULL)
        ub_ctx_delete(run.ub);
    check__dns_free(&run);
    if (run.ssl != NULL)
        SSL_CTX_free(run.ssl);
    for (size_t i = 0; i < run.n_domains; i++)
        check__domain_clear(&run.domains[i]);
    free(run.domains);
    if (!pipe_was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return rc != 0 ? -1 : worst;
}
