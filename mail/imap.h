/*
 * imap.h - reports pulled from a mailbox over IMAP (libcurl): one pass fetches every message
 * of the folder, stores its reports through an ingest run, and only after the commit moves
 * each message to the done folder (some report stored or already there) or the rejected folder
 * (nothing usable). The parsers of the server's answers are pure (imap_parse.c).
 */
#ifndef STSD_MAIL_IMAP_H
#define STSD_MAIL_IMAP_H

#include "mail/mail.h"

#include <stddef.h>
#include <stdint.h>

/* ---- imap_parse.c: pure, bounded, safe on any bytes ---- */

/* [mail] imap = imaps://USER@HOST[:PORT]/FOLDER (or imap://: STARTTLS required, plain only to
 * a loopback host). USER and FOLDER are percent-decoded; FOLDER defaults to INBOX. */
#define MAIL_IMAP_FIELD 256
struct mail_imap_url {
    int tls;      /* 1: imaps:// (TLS from the start); 0: imap:// */
    int loopback; /* the host is localhost, 127.0.0.0/8 or [::1] */
    int port;     /* as given, else 993 (imaps) or 143 (imap) */
    char user[MAIL_IMAP_FIELD];
    char host[MAIL_IMAP_FIELD]; /* as written: a name, an IPv4 address or [IPv6] */
    char folder[MAIL_IMAP_FIELD];
};
/* 0, or -1 with what is wrong in err (one line). */
int mail_imap_url_parse(const char *url, struct mail_imap_url *u, char *err, size_t errlen);

/* The UIDs of the untagged "* SEARCH n n ..." lines in an answer (other lines are ignored),
 * sorted and without repeats, at most `max` (MAIL_IMAP_MAX_UIDS in a pass: the rest waits for
 * the next pass, *capped says so). Numbers outside 1..4294967295 are skipped. Returns the
 * count stored in uids. */
#define MAIL_IMAP_MAX_UIDS 100000
size_t mail_imap_parse_search(const char *buf, size_t len, uint32_t *uids, size_t max, int *capped);

/* The hierarchy delimiter from the first "* LIST (...) "d" ..." line: 1 with *delim set (0 for
 * NIL: a flat namespace), or 0 when there is no such line. */
int mail_imap_parse_delimiter(const char *buf, size_t len, char *delim);

/* Capabilities from "* CAPABILITY ..." lines (or an "[CAPABILITY ...]" response code). */
enum { MAIL_IMAP_CAP_MOVE = 1, MAIL_IMAP_CAP_UIDPLUS = 2 };
int mail_imap_parse_caps(const char *buf, size_t len);

/* A configured folder name ('/' separates levels) as the server names it: every '/' becomes
 * delim (unchanged when delim is 0 or '/'). ASCII printable only, no '"', '\\', '*', '%'.
 * 0, or -1 (bad character, empty, or it does not fit in out). */
int mail_imap_folder_name(const char *folder, char delim, char *out, size_t outlen);
/* name as an IMAP quoted string ("..."). 0, or -1 when it does not fit or has a byte a quoted
 * string cannot carry (CR, LF, NUL, 8-bit). */
int mail_imap_quote(const char *name, char *out, size_t outlen);
/* name percent-encoded for the path of an IMAP URL (every byte but unreserved ones). */
int mail_imap_url_encode(const char *name, char *out, size_t outlen);
/* The UID set "1:3,7,9:10" of n sorted UIDs. 0, or -1 when it does not fit. */
int mail_imap_uid_set(const uint32_t *uids, size_t n, char *out, size_t outlen);

/* ---- imap.c: one pass ---- */

enum mail_imap_status {
    MAIL_IMAP_OK = 0,
    MAIL_IMAP_CONFIG,    /* [mail] imap unusable, no password */
    MAIL_IMAP_CONNECT,   /* cannot connect, or the connection broke */
    MAIL_IMAP_TLS,       /* TLS handshake or certificate verification failed */
    MAIL_IMAP_LOGIN,     /* the server refused the user and password */
    MAIL_IMAP_SERVER,    /* a command failed (SELECT, MOVE ...) */
    MAIL_IMAP_DATABASE,  /* a commit failed: nothing of that batch was moved, the pass stopped */
    MAIL_IMAP_CANCELLED, /* the cancel hook said stop */
};

struct mail_imap_options {
    const struct stsd_config *cfg; /* [mail] imap, ca_file, done_folder, rejected_folder */
    const char *password;
    int (*cancelled)(void *arg); /* polled during transfers; non-zero stops the pass */
    void *cancel_arg;
};

struct mail_imap_result {
    enum mail_imap_status status;
    long messages;                                /* fetched (or found too large) this pass */
    long stored, duplicates, conflicts, rejected; /* report outcomes of this pass */
    long deferred; /* messages left in the folder to try again (MAIL_DEFERRED) */
    long moved_done, moved_rejected;
    long capped; /* 1 when the folder held more than MAIL_IMAP_MAX_UIDS messages */
    char error[600];
};

/* The password: the first line of path ([mail] password_file; CR/LF stripped), malloc'd in
 * *out. 0, or -1 with err (no file configured, unreadable, empty). */
int mail_imap_password(const char *path, char **out, char *err, size_t errlen);

/*
 * One pass over the folder of [mail] imap into `in` (created by the caller, who finishes it):
 * log in, create the done and rejected folders when missing, search the folder, fetch every
 * message (each at most REPORT_MAX_MESSAGE bytes: a larger one is rejected), hand it to `in`
 * (outcomes reach the caller's callback: message = the UID, file = the folder), commit every
 * MAIL_IMAP_BATCH messages, then move them. Returns the status (also in r->status).
 */
#define MAIL_IMAP_BATCH 50
#define MAIL_IMAP_BATCH_BYTES (32u * 1024 * 1024)
enum mail_imap_status mail_imap_pass(struct mail_ingest *in, const struct mail_imap_options *o,
                                     struct mail_imap_result *r);

#endif
