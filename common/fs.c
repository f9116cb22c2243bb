/* fs.c - whole-file reads with a cap, atomic writes, mkdir -p, free space. */
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

char *file_read_all(const char *path, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t size = 0, alloc = 4096;
    char *buf = xmalloc(alloc + 1);
    for (;;) {
        if (size == alloc) {
            if (alloc > cap) {
                free(buf);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            alloc *= 2;
            buf = xrealloc(buf, alloc + 1);
        }
        ssize_t r = read(fd, buf + size, alloc - size);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        size += (size_t)r;
        if (size > cap) {
            free(buf);
            close(fd);
            errno = EFBIG;
            return NULL;
        }
    }
    close(fd);
    buf[size] = '\0';
    if (len)
        *len = size;
    return buf;
}

/* The temporary file's name is unique per process and call, so that threads writing the same
 * path do not share one. `exclusive`: link instead of rename, failing with EEXIST when `path`
 * exists (two creators: exactly one wins, and the loser sees the winner's file). */
static int write_atomic(const char *path, const void *buf, size_t len, int mode, int exclusive)
{
    static atomic_ulong seq;
    char *tmp = xasprintf("%s.tmp.%ld.%lu", path, (long)getpid(), atomic_fetch_add(&seq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        goto fail;
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail_close;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0)
        goto fail_close;
    if (close(fd) != 0) {
        fd = -1;
        goto fail_unlink;
    }
    if (exclusive) {
        if (link(tmp, path) != 0)
            goto fail_unlink;
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        goto fail_unlink;
    }
    {
        char *dcopy = xstrdup(path);
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(dcopy);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(tmp);
    return 0;
fail_close : {
    int e = errno;
    close(fd);
    errno = e;
}
fail_unlink : {
    int e = errno;
    unlink(tmp);
    errno = e;
}
fail : {
    int e = errno;
    free(tmp);
    errno = e;
}
    return -1;
}

int file_write_atomic(const char *path, const void *buf, size_t len, int mode)
{
    return write_atomic(path, buf, len, mode, 0);
}

int file_create_atomic(const char *path, const void *buf, size_t len, int mode)
{
    return write_atomic(path, buf, len, mode, 1);
}

int mkdir_p(const char *path, int mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, (mode_t)mode);
    int e = errno;
    free(p);
    if (rc != 0 && e != EEXIST) {
        errno = e;
        return -1;
    }
    return 0;
}

int fs_free_bytes(const char *path, uint64_t *out)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return -1;
    /* f_bavail: what an unprivileged writer may still use (root's reserve excluded) */
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}
