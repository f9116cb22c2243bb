/* mail_int.h - declarations shared between the files of mail/ only. */
#ifndef STSD_MAIL_INT_H
#define STSD_MAIL_INT_H

#include "mail/mail.h"

/* ingest.c: the batch. Where an item comes from: file, message number (0: none), part (NULL:
 * none). A rejection, its reason printf-style. */
void mail__reject(struct mail_ingest *in, const char *file, long message, const char *part,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same for a message to try again later (MAIL_DEFERRED): nothing of it is stored now. */
void mail__defer(struct mail_ingest *in, const char *file, long message, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A path that does not exist: reported at once, counted in missing. */
void mail__missing(struct mail_ingest *in, const char *file, const char *reason);
/* One report body (gzip or JSON) of source "file" or "email"; takes ownership of raw. */
void mail__add_report(struct mail_ingest *in, char *raw, size_t len, const char *source,
                      const char *file, long message, const char *part);
/* One RFC 5322 message: every report part it carries; takes ownership of msg. */
void mail__add_message(struct mail_ingest *in, char *msg, size_t len, const char *file,
                       long message);
/* One input (a message or a report file) was handled: count it and tell the progress display. */
void mail__done(struct mail_ingest *in);
/* Whether a progress display is attached: only then is it worth reading an mbox twice to
 * announce its messages. */
int mail__shows_progress(const struct mail_ingest *in);
/* The configuration the run was started with. */
const struct stsd_config *mail__config(const struct mail_ingest *in);

/* dkim_dns.c */
/* The character-strings of one TXT rdata (RFC 1035 §3.3.14) joined into out (NUL-terminated).
 * 0, or -1 when malformed, when it does not fit or holds a NUL byte. */
int mail__dkim_txt_join(const unsigned char *rd, size_t len, char *out, size_t outsz);
/* A mail_dkim_lookup_fn asking the libunbound context `user` (resolver_new). */
enum mail_dkim_key mail__dkim_dns_lookup(const char *name, int64_t timeout_ms, char *txt,
                                         size_t txtsz, char *why, size_t whysz, void *user);

#endif
