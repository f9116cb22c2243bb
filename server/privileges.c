/* privileges.c - `[server] user`: started as root, serve drops to that user and its groups for
 * good once it has bound its ports and read its keys; and what to tell the operator when the
 * unprivileged process cannot read or write something. */
#include "server/server_int.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Process-wide: serve runs once per process. Set by srv__priv_prepare. */
static struct {
    int pending; /* a drop is due (started as root with a user) */
    int dropped;
    uid_t uid;
    gid_t gid;
    char name[64];
    char hint[256]; /* for srv__priv_hint, written once at the drop */
} priv;

int srv__priv_prepare(const struct stsd_config *cfg, char *err, size_t errlen)
{
    memset(&priv, 0, sizeof(priv));
    uid_t euid = geteuid();
    if (cfg->user == NULL) {
        if (euid == 0)
            log_event(LOG_WARN, "serve.root",
                      "note=\"running as root: everything that parses reports from the internet "
                      "does so with every privilege\" fix=\"set [server] user = stsd (a user "
                      "of its own) so that serve drops to it after binding its ports\"");
        return 0;
    }
    errno = 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        snprintf(err, errlen,
                 "[server] user = %s: no such user (%s); create it, e.g. useradd --system "
                 "--home-dir /var/lib/stsd --shell /usr/sbin/nologin %s",
                 cfg->user, errno ? strerror(errno) : "not in the user database", cfg->user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "[server] user = %s: that is root; name an unprivileged user",
                 cfg->user);
        return -1;
    }
    if (euid != 0) {
        if (euid == pw->pw_uid)
            return 0; /* started as that user already (e.g. systemd's User=): nothing to do */
        /* Keeping the privileges of whoever started serve would not be what the config says. */
        snprintf(err, errlen,
                 "[server] user = %s: serve runs as uid %d, not root, and cannot switch to "
                 "uid %d; start it as root (it drops to %s after binding) or as %s, or remove "
                 "[server] user",
                 cfg->user, (int)euid, (int)pw->pw_uid, cfg->user, cfg->user);
        return -1;
    }
    priv.pending = 1;
    priv.uid = pw->pw_uid;
    priv.gid = pw->pw_gid;
    snprintf(priv.name, sizeof(priv.name), "%s", cfg->user);
    return 0;
}

int srv__priv_created(const char *path)
{
    if (!priv.pending || priv.dropped)
        return 0;
    if (chown(path, priv.uid, priv.gid) != 0) {
        char q[600];
        log_event(LOG_WARN, "serve.chown", "path=%s user=%s error=%s",
                  log_quote(q, sizeof(q), path), priv.name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Uid and Gid lines of /proc/self/task/<tid>/status for every thread: all four fields of
 * both must be the target ids (glibc applies set*id to every thread; this checks it). */
static int threads_all_dropped(char *err, size_t errlen)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0; /* no /proc: getres*id below is the check */
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%.200s/status", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread ended */
        while (ok && fgets(line, sizeof(line), f) != NULL) {
            int is_uid = strncmp(line, "Uid:", 4) == 0, is_gid = strncmp(line, "Gid:", 4) == 0;
            if (!is_uid && !is_gid)
                continue;
            unsigned long v[4];
            unsigned long want = is_uid ? (unsigned long)priv.uid : (unsigned long)priv.gid;
            if (sscanf(line + 4, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4 ||
                v[0] != want || v[1] != want || v[2] != want || v[3] != want) {
                snprintf(err, errlen, "thread %s still has %.*s", de->d_name,
                         (int)strcspn(line, "\n"), line);
                ok = 0;
            }
        }
        fclose(f);
    }
    closedir(d);
    return ok ? 0 : -1;
}

int srv__priv_drop(char *err, size_t errlen)
{
    if (!priv.pending || priv.dropped)
        return 0;
    /* Supplementary groups first (needs root), then the group, then the user. */
    if (initgroups(priv.name, priv.gid) != 0) {
        snprintf(err, errlen, "initgroups(%s): %s", priv.name, strerror(errno));
        return -1;
    }
    if (setgid(priv.gid) != 0) {
        snprintf(err, errlen, "setgid(%d): %s", (int)priv.gid, strerror(errno));
        return -1;
    }
    if (setuid(priv.uid) != 0) {
        snprintf(err, errlen, "setuid(%d): %s", (int)priv.uid, strerror(errno));
        return -1;
    }
    /* For good: real, effective and saved ids are the user's, and root cannot come back. */
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != priv.uid ||
        eu != priv.uid || su != priv.uid || rg != priv.gid || eg != priv.gid || sg != priv.gid) {
        snprintf(err, errlen, "the user and group ids did not all change");
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, errlen, "root could be regained after dropping privileges");
        return -1;
    }
    if (threads_all_dropped(err, errlen) != 0)
        return -1;
    /* Nothing serve starts later (it starts nothing) may gain privileges either. */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct group *gr = getgrgid(priv.gid);
    snprintf(priv.hint, sizeof(priv.hint),
             " (serve runs as user %s since it started: make the file and its directory "
             "readable by it, e.g. chgrp %s FILE && chmod 0640 FILE)",
             priv.name, gr != NULL ? gr->gr_name : priv.name);
    priv.dropped = 1;
    log_event(LOG_INFO, "serve.privileges", "user=%s uid=%d gid=%d", priv.name, (int)priv.uid,
              (int)priv.gid);
    return 0;
}

/* The database must be writable by the user serve runs as from now on: check up front and
 * say what to fix rather than fail on the first report. */
int srv__priv_check_state(const char *state_dir, const char *db_path, char *err, size_t errlen)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[4200];
    const char *bad = NULL;
    if (!priv.dropped)
        return 0;
    if (access(state_dir, R_OK | W_OK | X_OK) != 0) {
        bad = state_dir;
    } else {
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]) && bad == NULL; i++) {
            snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
            if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0)
                bad = path;
        }
    }
    if (bad == NULL)
        return 0;
    struct passwd *pw = getpwuid(geteuid());
    const char *who = pw != NULL ? pw->pw_name : "this user";
    snprintf(err, errlen,
             "%s is not writable by %s (uid %d), which serve runs as: chown -R %s: %s "
             "(the state directory and the database in it belong to that user)",
             bad, who, (int)geteuid(), who, state_dir);
    return -1;
}

const char *srv__priv_hint(int errnum)
{
    return errnum == EACCES && priv.dropped ? priv.hint : "";
}
