/* parlor: the user's time zone, for HistServ's day views (tz=...).
 *
 * $TZ when it names a zone ("Asia/Seoul", ":Asia/Seoul", or a path into a
 * zoneinfo folder), else the zone /etc/localtime links to, else the
 * current offset from UTC ("+09:00"; east is +), which the server takes as
 * a fixed offset.  A POSIX rule in $TZ ("KST-9") is used through its
 * current offset too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client-cli/parlor.h"

/* The zone name after ".../zoneinfo/" in a path, or NULL. */
static const char *zone_in_path(const char *path)
{
    const char *z = strstr(path, "zoneinfo/");
    return z ? z + 9 : NULL;
}

static bool looks_like_zone(const char *s)
{
    if (!s[0] || strlen(s) >= 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    /* "Area/City", or UTC itself; "KST-9" and the like are POSIX rules. */
    return strchr(s, '/') || strcmp(s, "UTC") == 0 || strcmp(s, "GMT") == 0;
}

void local_zone(char *out, size_t cap)
{
    const char *tz = getenv("TZ");
    if (tz && tz[0]) {
        if (tz[0] == ':')
            tz++;
        const char *z = tz[0] == '/' ? zone_in_path(tz) : tz;
        if (z && looks_like_zone(z)) {
            snprintf(out, cap, "%s", z);
            return;
        }
    } else {
        char link[512];
        ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            const char *z = zone_in_path(link);
            if (z && looks_like_zone(z)) {
                snprintf(out, cap, "%s", z);
                return;
            }
        }
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    long off = tm.tm_gmtoff / 60;
    snprintf(out, cap, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}
