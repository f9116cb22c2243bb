/* log.c - logfmt lines on stderr, one per event. */
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
    if (bufsz < 8) {
        if (bufsz)
            buf[0] = '\0';
        return buf;
    }
    if (value == NULL)
        value = "";
    /* '"' + escaped text + "..." when cut + '"' + NUL */
    buf[0] = '"';
    size_t used = text_escape(buf + 1, bufsz - 5, value, TEXT_ESC_QUOTES);
    size_t o = 1 + strlen(buf + 1);
    if (value[used] != '\0') {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *log_field(char *buf, size_t bufsz, const char *v)
{
    int bare = v != NULL && v[0] != '\0' && strlen(v) < bufsz;
    for (const char *p = v; bare && *p; p++)
        bare = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '"' && *p != '=' &&
               *p != '\\';
    if (bare)
        return strcpy(buf, v);
    return log_quote(buf, bufsz, v);
}
