/*
 * mail.h - TLS-RPT reports that arrive by e-mail or as files: report files (JSON or gzip),
 * RFC 5322 messages, mbox files, Maildir folders and stdin (an MTA pipe), parsed and stored
 * in batched transactions. The module prints nothing: every outcome reaches the caller
 * through a callback, in input order, and is counted in struct mail_counts.
 */
#ifndef STSD_MAIL_H
#define STSD_MAIL_H

#include "common/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct db;

/* ---- what a file holds, from its first bytes (mbox.c) ---- */
enum mail_kind { MAIL_KIND_GZIP, MAIL_KIND_JSON, MAIL_KIND_MBOX, MAIL_KIND_MESSAGE };
/* Bytes needed to tell the kinds apart: MAIL_KIND_GZIP from the gzip magic, MAIL_KIND_JSON
 * when the first character after an optional UTF-8 BOM and white space is '{' (within the
 * bytes given), MAIL_KIND_MBOX when it starts with "From ", else MAIL_KIND_MESSAGE. */
#define MAIL_SNIFF_BYTES 8
enum mail_kind mail_sniff(const unsigned char *b, size_t n);

/* ---- mbox splitting (mbox.c) ---- */
/* Longest mbox line read at once; a longer line is read in pieces of this size. */
#define MAIL_MBOX_LINE 65536
/*
 * One message of an mbox: msg (malloc'd, NUL-terminated; the callee owns it) holds len
 * bytes, without its "From " line and with mboxrd quoting undone; number counts messages
 * from 1. msg is NULL (len 0) when the message was longer than the cap: it was skipped.
 */
typedef void (*mail_message_fn)(char *msg, size_t len, long number, void *user);
/*
 * Split the mbox (mboxo/mboxrd) read from f: a message starts at a "From " line at the top
 * of the file or after an empty line; a line ">From ", ">>From " ... loses one '>'. Text
 * before the first "From " line is not a message. Lines are text: a NUL byte ends a line's
 * piece early. Each message is capped at max bytes; memory is bounded by the cap plus one
 * line. Returns 0, or -1 on a read error (errno says which).
 */
int mail_mbox_split(FILE *f, size_t max, mail_message_fn fn, void *user);
/*
 * The number of messages mail_mbox_split would hand over for f (the same rules, skipped ones
 * included), read to its end without keeping any message: memory is one line. The caller
 * rewinds f before splitting. Returns the count, or -1 on a read error (errno says which).
 */
long mail_mbox_count(FILE *f);

/* ---- DKIM (dkim.c, dkim_dns.c): RFC 6376 verification of a message's signatures ---- */
/*
 * The DKIM result of one message, best of its signatures (pass > unaligned > temperror >
 * fail):
 *   MAIL_DKIM_PASS       a valid signature whose d= is aligned with the From: domain
 *   MAIL_DKIM_UNALIGNED  valid signatures, but only of domains unrelated to the sender
 *   MAIL_DKIM_FAIL       signatures present, none valid (body hash, signature, key missing
 *                        or revoked, malformed: detail says which)
 *   MAIL_DKIM_NONE       no DKIM-Signature header field
 *   MAIL_DKIM_TEMPERROR  a key could not be fetched (SERVFAIL, no answer in time)
 */
enum mail_dkim_result {
    MAIL_DKIM_NONE,
    MAIL_DKIM_PASS,
    MAIL_DKIM_UNALIGNED,
    MAIL_DKIM_FAIL,
    MAIL_DKIM_TEMPERROR
};
struct mail_dkim {
    enum mail_dkim_result result;
    char domain[256]; /* the d= of the signature that decided it; "" for none */
    char detail[256]; /* why (a failure, a temporary error); "" when there is nothing to say */
};
/* "pass", "unaligned", "fail", "none", "temperror". */
const char *mail_dkim_result_name(enum mail_dkim_result r);
/* 1 when a signing domain d is aligned with the From: domain: equal, or one is a subdomain
 * of the other at a label boundary (case-insensitive, a trailing dot ignored); 0 when not or
 * when either is empty or NULL. The relaxed alignment of DMARC (RFC 7489 §3.1.1) without
 * the public suffix list: a reporter signs with its own domain or a parent of it. */
int mail_dkim_aligned(const char *d, const char *from_domain);

/* Hostile-input caps: the message is the sender's. Only the first MAIL_DKIM_MAX_SIGS
 * DKIM-Signature fields (from the top) reach the verifier, the others are dropped before it
 * hashes anything (each signature costs a pass over the body); a key lookup waits at most
 * MAIL_DKIM_LOOKUP_MS, all of a message's lookups together MAIL_DKIM_MESSAGE_MS; the
 * answers of a run, failures included, are cached (at most MAIL_DKIM_CACHE keys, the oldest
 * replaced), so an mbox of reports whose keys cannot be fetched waits once per key, not once
 * per message. A key record longer than MAIL_DKIM_KEY_MAX bytes is not a key. A sender can still
 * name a new domain in every message whose DNS never answers (a wildcard under a zone whose
 * servers stall): once the lookups of a run that failed temporarily have waited
 * MAIL_DKIM_RUN_FAIL_MS in all, the run asks no more (an uncached key is a temperror at once),
 * so such messages cost a run at most that long, not MAIL_DKIM_MESSAGE_MS each. */
#define MAIL_DKIM_MAX_SIGS 5
#define MAIL_DKIM_LOOKUP_MS 5000
#define MAIL_DKIM_MESSAGE_MS 10000
#define MAIL_DKIM_CACHE 1024
#define MAIL_DKIM_KEY_MAX 1024
#define MAIL_DKIM_RUN_FAIL_MS 30000

/* What a key lookup found at `name` (selector._domainkey.domain, lowercase, no trailing
 * dot): the key record's text (the character-strings of one TXT record joined) into
 * txt[txtsz], or why not into why[whysz]. It returns within timeout_ms. */
enum mail_dkim_key { MAIL_DKIM_KEY_FOUND, MAIL_DKIM_KEY_MISSING, MAIL_DKIM_KEY_TEMPFAIL };
typedef enum mail_dkim_key (*mail_dkim_lookup_fn)(const char *name, int64_t timeout_ms, char *txt,
                                                  size_t txtsz, char *why, size_t whysz,
                                                  void *user);
struct mail_dkim_verifier;
/* A verifier for one run whose keys come from DNS through libunbound: `resolver` is
 * "IP[@PORT]" (as `[checks] resolver`), NULL for the system's resolvers. NULL with err on
 * failure (a bad resolver, no resolver context). Free with mail_dkim_free. */
struct mail_dkim_verifier *mail_dkim_new(const char *resolver, char *err, size_t errlen);
/* The same with keys from fn (tests, fuzzing): no DNS. */
struct mail_dkim_verifier *mail_dkim_new_lookup(mail_dkim_lookup_fn fn, void *user, char *err,
                                                size_t errlen);
/* Verify the message msg[0..len) (CRLF or LF line ends) whose From: domain is from_domain
 * ("" or NULL when unknown: no signature can be aligned) into *out. Never fails: what goes
 * wrong is a result (fail, temperror) with its detail. */
void mail_dkim_verify(struct mail_dkim_verifier *v, const char *msg, size_t len,
                      const char *from_domain, struct mail_dkim *out);
/* Key lookups asked of the DNS or of fn so far (cache misses): for tests. */
long mail_dkim_lookups(const struct mail_dkim_verifier *v);
void mail_dkim_free(struct mail_dkim_verifier *v);

/* ---- ingest (ingest.c, read.c) ---- */
enum mail_outcome {
    MAIL_STORED,    /* a new report: id */
    MAIL_DUPLICATE, /* the same content is stored as id: nothing written */
    MAIL_CONFLICT,  /* stored as id, a conflict of the first copy conflict_of */
    MAIL_REJECTED,  /* not stored: reason */
    MAIL_MISSING,   /* a path given does not exist (or cannot be examined): reason */
    MAIL_DBERROR,   /* the database failed: reason; nothing of the batch was stored */
    MAIL_DEFERRED,  /* not stored now, for a reason that may pass (a DKIM key that could not be
                       fetched while [mail] require_dkim is on): reason; try again later */
};
/*
 * One outcome. Where it comes from: file (the path, "-" for stdin), message (its number in
 * an mbox, 0 for a single message or a report file) and part (the file name of the part
 * when a message carries several reports, "?" for a part without one; else NULL). For a
 * report: its organization-name and report-id. Everything is valid during the callback.
 */
struct mail_item {
    enum mail_outcome outcome;
    int64_t id, conflict_of;
    const char *org, *report_id;
    const char *file, *part;
    long message;
    const char *reason;
    /* A report from a message: its DKIM result (mail_dkim_result_name) and the d= that
     * decided it (NULL when none); both NULL for a report file. */
    const char *dkim, *dkim_domain;
};
typedef void (*mail_item_fn)(const struct mail_item *item, void *user);

struct mail_counts {
    long stored, duplicates, conflicts, rejected;
    long deferred; /* messages to try again later (MAIL_DEFERRED) */
    int missing;   /* a path did not exist */
    int dberror;   /* the database failed: stop, nothing more is stored */
};

struct mail_ingest;
/*
 * An ingest run into db (opened by the caller, who closes it after mail_ingest_finish):
 * limits from cfg ([reports] max_json, max_values, max_body for a gzip file,
 * max_detail_rows). fn is called for every outcome, in input order; a report's outcome
 * comes when its batch is committed. Reports are stored as source "file" (a report file)
 * or "email" (a part of a message). Every message that carries reports is DKIM-verified
 * (keys through [checks] resolver, else the system's resolver) and the result stored with
 * its reports; with [mail] require_dkim a message without a pass is rejected whole.
 */
struct mail_ingest *mail_ingest_new(struct db *db, const struct stsd_config *cfg, mail_item_fn fn,
                                    void *user);
/* Verify messages with v (the caller's; it outlives the run) instead of a verifier made from
 * [checks] resolver at the first message: keys from a lookup callback (tests), or a cache
 * kept across runs. */
void mail_ingest_set_dkim(struct mail_ingest *in, struct mail_dkim_verifier *v);
/* Ingest one path: a report file, a message, an mbox, a Maildir (cur/ and new/) or a
 * directory of such files (sorted by name; names starting with '.' are skipped), or "-"
 * for stdin (one message, its "From " line dropped, or one report). */
void mail_ingest_path(struct mail_ingest *in, const char *path);
/* One RFC 5322 message from elsewhere (IMAP): like a message of an mbox, numbered `message`
 * (the IMAP UID) in `file` (the folder); takes ownership of msg (malloc'd, len bytes). */
void mail_ingest_message(struct mail_ingest *in, char *msg, size_t len, const char *file,
                         long message);
/* Store what is pending now and hand its outcomes to the callback (the IMAP pull moves
 * messages only after this). 0, or -1 when the database failed (nothing of the batch was
 * stored; counts.dberror is set and nothing more will be stored by this run). */
int mail_ingest_flush(struct mail_ingest *in);
/* Progress of a run, for a display: `done` inputs handled (messages, report files) of `total`
 * announced by mail_ingest_expect (0 when nothing was announced; done may pass it), and the
 * outcomes committed so far. */
struct mail_progress {
    long done, total;
    long stored, duplicates, conflicts, rejected, deferred;
    int final; /* 1 on the last call, from mail_ingest_finish */
};
typedef void (*mail_progress_fn)(const struct mail_progress *p, void *user);
/* Call fn after every input handled and once more (final) from mail_ingest_finish; fn decides
 * how often to show it. NULL turns it off. */
void mail_ingest_set_progress(struct mail_ingest *in, mail_progress_fn fn, void *user);
/* Announce n more inputs to come (an mbox's messages, a Maildir's files, a mailbox's UIDs). */
void mail_ingest_expect(struct mail_ingest *in, long n);
/* The counts so far (valid until mail_ingest_finish). */
const struct mail_counts *mail_ingest_counts(const struct mail_ingest *in);
/* Store what is pending, report it, fill *counts (may be NULL) and free in. */
void mail_ingest_finish(struct mail_ingest *in, struct mail_counts *counts);

#endif
