/* parlor: the windows of the full-screen client (parlor_tui.c draws them).
 *
 * Window 1 (index 0) is the status window: the server's own messages and
 * whatever belongs to no room.  Every room and private conversation gets
 * its own window the first time something is shown for it; they are
 * numbered in the order they opened, and closing one moves the later ones
 * down (as irssi does).  A window keeps its last WIN_LINES lines, how many
 * arrived while it was not on screen (unread, mentions), where the user
 * stopped reading (read_mark) and, for rooms, who is in it (for Tab
 * completion and for showing a QUIT or NICK in the right windows).
 *
 * Nothing here draws or talks to the server. */
#include <stdlib.h>
#include <string.h>

#include "client-cli/parlor.h"
#include "common/log.h"

static struct win *wins[WIN_MAX];
static int nwins;

static struct win *win_new(const char *name)
{
    struct win *w = calloc(1, sizeof *w);
    PARLOR_ASSERT(w != NULL);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->read_mark = -1;
    return w;
}

static void win_free(struct win *w)
{
    win_clear(w);
    win_member_clear(w);
    free(w->members);
    free(w->topic);
    free(w);
}

static void ensure_status(void)
{
    if (nwins == 0)
        wins[nwins++] = win_new("");
}

int win_count(void)
{
    ensure_status();
    return nwins;
}

struct win *win_at(int i)
{
    ensure_status();
    return i >= 0 && i < nwins ? wins[i] : NULL;
}

int win_index(const struct win *w)
{
    for (int i = 0; i < nwins; i++)
        if (wins[i] == w)
            return i;
    return -1;
}

struct win *win_find(const char *name)
{
    ensure_status();
    if (!name || !name[0])
        return wins[0];
    for (int i = 1; i < nwins; i++)
        if (irc_casecmp(wins[i]->name, name) == 0)
            return wins[i];
    return NULL;
}

struct win *win_open(const char *name)
{
    struct win *w = win_find(name);
    if (w)
        return w;
    if (nwins >= WIN_MAX || strlen(name) >= PARLOR_NAME_MAX)
        return NULL;
    w = win_new(name);
    wins[nwins++] = w;
    return w;
}

void win_close(const char *name)
{
    struct win *w = name && name[0] ? win_find(name) : NULL;
    if (!w)
        return;
    int i = win_index(w);
    memmove(&wins[i], &wins[i + 1], (size_t)(nwins - i - 1) * sizeof wins[0]);
    nwins--;
    win_free(w);
}

void win_close_all(void)
{
    while (nwins > 0)
        win_free(wins[--nwins]);
}

void win_add(struct win *w, const char *text, int flags)
{
    long slot = w->total % WIN_LINES;
    if (w->total - w->first >= WIN_LINES) {
        free(w->lines[slot]);
        w->first++;
    }
    w->lines[slot] = strdup(text);
    PARLOR_ASSERT(w->lines[slot] != NULL);
    w->flags[slot] = (unsigned char)flags;
    w->total++;
}

const char *win_line(const struct win *w, long seq, int *flags)
{
    if (seq < w->first || seq >= w->total)
        return NULL;
    if (flags)
        *flags = w->flags[seq % WIN_LINES];
    return w->lines[seq % WIN_LINES];
}

bool win_confirm(struct win *w, const char *text)
{
    for (long s = w->first; s < w->total; s++) {
        unsigned char *f = &w->flags[s % WIN_LINES];
        const char *l = w->lines[s % WIN_LINES];
        size_t tl = strlen(text), ll = strlen(l);
        if ((*f & LINE_PENDING) && ll >= tl && strcmp(l + ll - tl, text) == 0) {
            *f &= (unsigned char)~LINE_PENDING;
            return true;
        }
    }
    return false;
}

void win_clear(struct win *w)
{
    for (long s = w->first; s < w->total; s++) {
        free(w->lines[s % WIN_LINES]);
        w->lines[s % WIN_LINES] = NULL;
    }
    w->first = w->total;
    w->read_mark = -1;
    w->scroll = 0;
}

/* ---- members ---- */

static int member_pos(const struct win *w, const char *nick)
{
    for (int i = 0; i < w->nmembers; i++)
        if (irc_casecmp(w->members[i], nick) == 0)
            return i;
    return -1;
}

bool win_member_has(const struct win *w, const char *nick)
{
    return member_pos(w, nick) >= 0;
}

void win_member_add(struct win *w, const char *nick)
{
    if (!nick[0] || member_pos(w, nick) >= 0)
        return;
    if (w->nmembers == w->members_cap) {
        int cap = w->members_cap ? w->members_cap * 2 : 16;
        char **m = realloc(w->members, (size_t)cap * sizeof *m);
        PARLOR_ASSERT(m != NULL);
        w->members = m;
        w->members_cap = cap;
    }
    w->members[w->nmembers] = strdup(nick);
    PARLOR_ASSERT(w->members[w->nmembers] != NULL);
    w->nmembers++;
}

void win_member_del(struct win *w, const char *nick)
{
    int i = member_pos(w, nick);
    if (i < 0)
        return;
    free(w->members[i]);
    memmove(&w->members[i], &w->members[i + 1], (size_t)(w->nmembers - i - 1) * sizeof w->members[0]);
    w->nmembers--;
}

void win_member_clear(struct win *w)
{
    for (int i = 0; i < w->nmembers; i++)
        free(w->members[i]);
    w->nmembers = 0;
}

void win_member_rename(const char *old, const char *nick)
{
    for (int i = 1; i < nwins; i++) {
        int p = member_pos(wins[i], old);
        if (p < 0)
            continue;
        char *copy = strdup(nick);
        PARLOR_ASSERT(copy != NULL);
        free(wins[i]->members[p]);
        wins[i]->members[p] = copy;
    }
}

void win_rename(const char *old, const char *nick)
{
    struct win *w = old && old[0] ? win_find(old) : NULL;
    if (w && !win_find(nick))
        snprintf(w->name, sizeof w->name, "%s", nick);
}

void win_set_topic(const char *room, const char *topic)
{
    struct win *w = room && room[0] ? win_find(room) : NULL;
    if (!w)
        return;
    free(w->topic);
    w->topic = NULL;
    if (topic && topic[0]) {
        w->topic = strdup(topic);
        PARLOR_ASSERT(w->topic != NULL);
    }
}
