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
 * Creates state_dir, its policies/ and the cert_dir when missing. Everything it has to say
 * goes to the log (stderr); the caller maps the status to an exit code.
 */
enum srv_status srv_run(const struct stsd_config *cfg);

#endif
