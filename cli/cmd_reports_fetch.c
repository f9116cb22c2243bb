/* cmd_reports_fetch.c - 'stsd reports fetch': one pass over the IMAP mailbox of [mail] imap. */
#include "cli/cli.h"
#include "common/common.h"
#include "mail/imap.h"
#include "mail/mail.h"
#include "sql/db.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_fetch[] =
    "usage: stsd reports fetch [-c FILE]\n"
    "\n"
    "One pass over the IMAP mailbox of [mail] imap (imaps://USER@HOST[:PORT]/FOLDER; the\n"
    "password is the first line of [mail] password_file; the server's certificate is checked\n"
    "against the system's trust store and [mail] ca_file). Every message of the folder is\n"
    "fetched and its reports stored as 'reports ingest' stores a message; after each commit\n"
    "(every 50 messages) the messages are moved: to [mail] done_folder when a report of it is\n"
    "stored or already was (a duplicate or a conflict), to [mail] rejected_folder when\n"
    "nothing in it is usable (a message over 50 MiB included). Both folders are created when\n"
    "missing. Nothing is moved before it is committed: an interrupted pass loses nothing, and\n"
    "the next one finds what is left (a report stored already is a duplicate).\n"
    "\n"
    "One line per report on stdout, as 'reports ingest' prints them (file= is the folder,\n"
    "message= the message's UID), then:\n"
    "  fetched messages=N stored=N duplicates=N conflicts=N rejected=N deferred=N\n"
    "          moved_done=N moved_rejected=N\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file\n"
    "  -h, --help          this help\n"
    "\n"
    "exit: 0 every report stored or a duplicate, 1 something was rejected (its message is in\n"
    "the rejected folder), 69 the server cannot be reached, TLS failed or the login was\n"
    "refused (nothing moved), or a command failed, 75 the database could not be written\n"
    "(what was not committed stays in the folder) or a message was deferred ([mail]\n"
    "require_dkim = on and its DKIM key could not be fetched now: it stays in the folder for\n"
    "the next pass), 78 no [mail] imap, or its password_file is missing, unreadable or\n"
    "empty.\n";

int cmd_reports_fetch(int argc, char **argv, const char *config)
{
    int rc = cli_parse_common(argc, argv, "c:h", usage_fetch, &config);
    if (rc != CLI_NEXT)
        return rc;
    if (optind < argc) {
        cli_error("fetch: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    struct stsd_config cfg;
    if ((rc = cli_load_config(&cfg, config)) != 0)
        return rc;
    char err[600];
    char *password = NULL;
    if (cfg.mail_imap == NULL || cfg.mail_imap[0] == '\0') {
        cli_error("no [mail] imap is configured: set it to imaps://USER@HOST/FOLDER");
        rc = EXIT_CONFIG;
    } else if (mail_imap_password(cfg.mail_password_file, &password, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        rc = EXIT_CONFIG;
    }
    struct db *db = rc == 0 ? cli_open_db(&cfg, 1) : NULL;
    if (rc == 0 && db == NULL)
        rc = EXIT_TEMPFAIL;
    if (rc != 0) {
        free(password);
        config_free(&cfg);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN); /* the handle runs with CURLOPT_NOSIGNAL */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct mail_ingest *in = mail_ingest_new(db, &cfg, cli_print_mail_item, NULL);
    cli_progress_attach(in);
    struct mail_imap_options o = {.cfg = &cfg, .password = password};
    struct mail_imap_result r;
    mail_imap_pass(in, &o, &r);
    struct mail_counts n;
    mail_ingest_finish(in, &n);
    db_close(db);
    printf("fetched messages=%ld stored=%ld duplicates=%ld conflicts=%ld rejected=%ld "
           "deferred=%ld moved_done=%ld moved_rejected=%ld\n",
           r.messages, r.stored, r.duplicates, r.conflicts, r.rejected, r.deferred, r.moved_done,
           r.moved_rejected);
    fflush(stdout);
    if (r.capped)
        cli_error("imap: the folder holds more than %d messages: the rest waits for the next "
                  "pass",
                  MAIL_IMAP_MAX_UIDS);
    if (r.status != MAIL_IMAP_OK)
        cli_error("imap: %s", r.error);
    log_event(LOG_INFO, "reports.fetch",
              "messages=%ld stored=%ld duplicates=%ld conflicts=%ld rejected=%ld moved_done=%ld "
              "moved_rejected=%ld",
              r.messages, r.stored, r.duplicates, r.conflicts, r.rejected, r.moved_done,
              r.moved_rejected);
    memset(password, 0, strlen(password));
    free(password);
    config_free(&cfg);
    curl_global_cleanup();
    if (n.dberror || r.status == MAIL_IMAP_DATABASE || r.status == MAIL_IMAP_CANCELLED ||
        (r.status == MAIL_IMAP_OK && r.deferred > 0))
        return EXIT_TEMPFAIL;
    if (r.status == MAIL_IMAP_CONFIG)
        return EXIT_CONFIG;
    if (r.status != MAIL_IMAP_OK)
        return EXIT_UNAVAILABLE;
    return n.rejected > 0 ? EXIT_PARTIAL : 0;
}
