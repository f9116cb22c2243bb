/* log.c - logfmt lines on stderr, one per event (SPEC §8). */
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level min)
{
    min_level = min;
}

void log_event(enum log_level level, const char *event, const char *fields, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;
    char line[2048];
    int n = snprintf(line, sizeof(line), "level=%s event=%s", names[level], event);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line) - 2 && fields != NULL && fields[0] != '\0') {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fields);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fields, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write(2)-sized fputs keeps lines from several threads whole. */
    fwrite(line, 1, (size_t)n, stderr);
    fflush(stderr);
}

const char *log_quote(char *buf, size_t bufsz, const char *value)
{
    size_t o = 0;
    if (bufsz < 8) {
        if (bufsz)
            buf[0] = '\0';
        return buf;
    }
    if (value == NULL)
        value = "";
    buf[o++] = '"';
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char tmp[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            esc = tmp;
        }
        size_t need = esc ? strlen(esc) : 1;
        if (o + need + 5 > bufsz) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (esc) {
            memcpy(buf + o, esc, need);
            o += need;
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
