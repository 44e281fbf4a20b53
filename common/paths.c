#include "common/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

const char *default_control_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("PARLOR_CONTROL");
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
        return path;
    }
    if (geteuid() == 0)
        return "/run/parlord/control.sock";
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/') {
        snprintf(path, sizeof path, "%s/parlord/control.sock", xdg);
        return path;
    }
    snprintf(path, sizeof path, "/tmp/parlord-%u/control.sock", (unsigned)geteuid());
    return path;
}

/* dir exists: it must be a directory we can trust. */
static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return -EPERM;
    return 0;
}

int ensure_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;                           /* the current directory */
    size_t len = (size_t)(slash - path);
    if (len == 0)
        return 0;                           /* "/name": the root exists */
    if (len >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, len);
    dir[len] = '\0';

    struct stat st;
    if (stat(dir, &st) == 0)
        return check_dir(dir);

    /* Create each missing component from the top down.  EEXIST is fine:
     * another process may be creating the same directory. */
    for (char *p = dir + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = saved;
        if (saved == '\0')
            break;
    }
    return check_dir(dir);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void data_dir(const char *name, char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(out, cap, "%s/../%s", exe, name);
        if (is_dir(out))
            return;
        snprintf(out, cap, "%s/../share/parlor/%s", exe, name);
        if (is_dir(out))
            return;
    }
    snprintf(out, cap, "%s", name);
}
