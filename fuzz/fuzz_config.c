/* fuzz_config.c - libFuzzer target over the configuration loader: the input is a whole INI
 * file, read by config_load through libinih exactly as stsd reads /etc/stsd/stsd.conf; what
 * loads is written back by config_format and must load again to the same values. */
#include "common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One in-memory file, rewritten per input, opened by path like a real one. */
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (size > 65536)
        return 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();

    struct stsd_config cfg;
    char err[512];
    err[0] = '\0';
    int rc = config_load(&cfg, path, err, sizeof(err));
    if (rc == 0) {
        /* The derived values are always there after a successful load. */
        if (cfg.n_listen == 0 || cfg.n_report_paths == 0 || cfg.state_dir == NULL ||
            cfg.cert_dir == NULL || cfg.token_file == NULL || cfg.file == NULL)
            abort();
        /* config_format writes a file that loads back to the same values. */
        char *text = config_format(&cfg), *again = NULL;
        config_free(&cfg);
        size_t len = strlen(text);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, text, len, 0) != (ssize_t)len ||
            config_load(&cfg, path, err, sizeof(err)) != 0 ||
            strcmp(again = config_format(&cfg), text) != 0)
            abort();
        free(again);
        free(text);
    } else if (err[0] == '\0' || memchr(err, '\n', strlen(err)) != NULL) {
        abort(); /* every failure is one line naming file, line and fix */
    }
    config_free(&cfg);
    return 0;
}
