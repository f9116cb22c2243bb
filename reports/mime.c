/* mime.c - find the TLS-RPT report parts of an e-mail (RFC 8460 §5.3) with gmime. */
#include "reports/reports.h"
#include "reports/reports_int.h"

#include "common/common.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

/* gmime keeps global tables (charsets, the GType registry); set them up once per process,
 * whichever thread comes first. After that, parsing separate messages is re-entrant. */
static void mime_init(void)
{
    g_mime_init();
}

/* Occurrences of "boundary" in the message, ASCII case-insensitive, counted up to max+1. */
static int count_boundaries(const char *msg, size_t len, int max)
{
    static const char word[] = "boundary";
    const size_t wl = sizeof word - 1;
    int n = 0;
    for (size_t i = 0; i + wl <= len && n <= max; i++) {
        if ((msg[i] | 0x20) != 'b')
            continue;
        if (strncasecmp(msg + i, word, wl) == 0) {
            n++;
            i += wl - 1;
        }
    }
    return n;
}

struct walk {
    struct report_part *parts;
    int n;
    int too_many;
};

/*
 * A report part: by media type (RFC 8460 §5.3: application/tlsrpt+gzip or +json), or by a
 * file name ending .json.gz/.gz/.json on a part of another type, which is how some
 * reporters and forwarding gateways label them (application/octet-stream mostly).
 * Returns 1 (gzip), 0 (JSON) or -1 (not a report).
 */
static int report_kind(GMimeObject *obj, const char *filename)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (ct != NULL && g_mime_content_type_is_type(ct, "application", "tlsrpt+gzip"))
        return 1;
    if (ct != NULL && g_mime_content_type_is_type(ct, "application", "tlsrpt+json"))
        return 0;
    if (filename == NULL)
        return -1;
    size_t n = strlen(filename);
    if (report__ends_with_ci(filename, n, ".gz"))
        return 1;
    if (report__ends_with_ci(filename, n, ".json"))
        return 0;
    return -1;
}

static void take_part(struct walk *w, GMimePart *part)
{
    const char *filename = g_mime_part_get_filename(part);
    int kind = report_kind(GMIME_OBJECT(part), filename);
    if (kind < 0)
        return;
    if (w->n == REPORT_MAX_PARTS) {
        w->too_many = 1;
        return;
    }
    /* The content, with its Content-Transfer-Encoding (base64, quoted-printable, ...)
     * undone. Decoding never grows the data, so the message cap bounds it. */
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    GMimeStream *mem = g_mime_stream_mem_new();
    if (content != NULL)
        g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    struct report_part *rp = &w->parts[w->n++];
    rp->len = ba->len;
    rp->data = xmalloc(ba->len + 1);
    if (ba->len > 0)
        memcpy(rp->data, ba->data, ba->len);
    rp->data[ba->len] = '\0';
    /* Trust the bytes over the label: a gzip magic means gzip whatever the type says. */
    rp->gzip = kind == 1 || report_is_gzip(rp->data, rp->len);
    rp->filename = filename != NULL ? xstrdup(filename) : NULL;
    g_object_unref(mem);
}

/* Walk multiparts (multipart/report, multipart/mixed, ...) and attached messages. */
static void walk(struct walk *w, GMimeObject *obj, int depth)
{
    if (obj == NULL || depth > REPORT__MAX_MIME_DEPTH || w->too_many)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int count = g_mime_multipart_get_count(mp);
        for (int i = 0; i < count && !w->too_many; i++)
            walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner != NULL)
            walk(w, g_mime_message_get_mime_part(inner), depth + 1);
    } else if (GMIME_IS_PART(obj)) {
        take_part(w, GMIME_PART(obj));
    }
}

/* A header's value as a domain name into out[256], or "". */
static void header_domain(GMimeMessage *m, const char *name, char out[256])
{
    const char *v = g_mime_object_get_header(GMIME_OBJECT(m), name);
    out[0] = '\0';
    if (v == NULL)
        return;
    while (*v == ' ' || *v == '\t')
        v++;
    char tmp[256];
    size_t n = strcspn(v, " \t\r\n;");
    if (n == 0 || n >= sizeof(tmp))
        return;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (domain_normalise(tmp, out, 256) != 0)
        out[0] = '\0';
}

static void mime_info(GMimeMessage *m, struct report_mime_info *info)
{
    header_domain(m, "TLS-Report-Domain", info->report_domain);
    header_domain(m, "TLS-Report-Submitter", info->submitter);
    info->from_domain[0] = '\0';
    InternetAddressList *from = g_mime_message_get_from(m);
    for (int i = 0; from != NULL && i < internet_address_list_length(from); i++) {
        InternetAddress *a = internet_address_list_get_address(from, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(a))
            continue;
        const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        const char *at = addr ? strrchr(addr, '@') : NULL;
        if (at != NULL && domain_normalise(at + 1, info->from_domain, 256) != 0)
            info->from_domain[0] = '\0';
        break;
    }
}

int report_mime_extract(const char *msg, size_t len, struct report_part **parts,
                        struct report_mime_info *info, struct report_error *err)
{
    *parts = NULL;
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (len > REPORT_MAX_MESSAGE) {
        report__set_error(err, "message", "larger than %d bytes", REPORT_MAX_MESSAGE);
        return -1;
    }
    if (count_boundaries(msg, len, REPORT__MAX_MIME_BOUNDARIES) > REPORT__MAX_MIME_BOUNDARIES) {
        report__set_error(err, "message", "more than %d multipart boundaries",
                          REPORT__MAX_MIME_BOUNDARIES);
        return -1;
    }
    pthread_once(&mime_once, mime_init);

    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(msg, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    if (message == NULL) {
        report__set_error(err, "message", "not an RFC 5322 message");
        return -1;
    }

    if (info != NULL)
        mime_info(message, info);
    struct walk w = {.parts = xcalloc(REPORT_MAX_PARTS, sizeof(struct report_part))};
    walk(&w, g_mime_message_get_mime_part(message), 0);
    g_object_unref(message);
    if (w.too_many) {
        report_parts_free(w.parts, w.n);
        report__set_error(err, "message", "more than %d report parts", REPORT_MAX_PARTS);
        return -1;
    }
    if (w.n == 0) {
        free(w.parts);
        return 0;
    }
    *parts = w.parts;
    return w.n;
}

void report_parts_free(struct report_part *parts, int n)
{
    if (parts == NULL)
        return;
    for (int i = 0; i < n; i++) {
        free(parts[i].data);
        free(parts[i].filename);
    }
    free(parts);
}
