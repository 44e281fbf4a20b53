/* parlor: the full-screen front end (ncursesw), in the manner of irssi.
 *
 *   rows 0 .. LINES-3   the current window's lines (parlor_win.c), wrapped
 *                       at words by screen columns (wcwidth: Korean takes
 *                       two), continuation rows indented under the text
 *   row LINES-2         the status line: clock, nick, current window, and
 *                       the other windows with unread lines ("3:#dev(4)",
 *                       "4:alice(!2)" when a line mentions you)
 *   row LINES-1         the input line: "[#room] " then what is typed,
 *                       scrolled sideways to keep the cursor in view
 *
 * Keys are read with wget_wch in no-delay mode when libuv says standard
 * input is readable; the screen is redrawn once per loop turn (a prepare
 * handle) when something changed, and curses sends only the difference.
 * Lines are stored with the ANSI colour codes of ui_nick (ESC [ n m); they
 * are turned into curses colours here.  SIGWINCH is caught by parlor_ui.c,
 * which calls tui_resize. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "client-cli/parlor.h"

#define INPUT_MAX 1024            /* characters in the input line */
#define HIST_MAX 200              /* input lines remembered for Up/Down */
#define INDENT 6                  /* continuation rows start under "HH:MM " */
#define ROWS_MAX 64               /* screen rows one line may take */
#define CANDIDATES_MAX 512

enum { PAIR_HIGHLIGHT = 13, PAIR_MARKER = 14 };

static struct {
    struct app *a;
    bool on, dirty;
    uv_poll_t poll;
    uv_prepare_t prepare;
    wchar_t in[INPUT_MAX + 1];
    int len, pos, hscroll;
    char *hist[HIST_MAX];
    int nhist, hist_pos;
    /* Tab completion: the word being completed started at comp_start and
     * was comp_prefix; comp_next is the match to offer next. */
    bool completing;
    int comp_start, comp_next;
    char comp_prefix[PARLOR_NAME_MAX * 4];
    bool bright;                  /* 16 colours: 9x codes get their own */
} T;

/* ---- text on screen ---- */

/* Decode one character of s[0..len): its byte length (0 at an ESC [ ... m
 * sequence, which is returned in *sgr_len instead), the character and its
 * screen width. */
static size_t next_char(const char *s, size_t len, wchar_t *wc, int *width, size_t *sgr_len)
{
    *sgr_len = 0;
    if (s[0] == '\033' && len > 1 && s[1] == '[') {
        size_t i = 2;
        while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == ';'))
            i++;
        *sgr_len = i < len ? i + 1 : i;
        return 0;
    }
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t n = mbrtowc(wc, s, len, &st);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
        *wc = L'?';
        *width = 1;
        return 1;
    }
    int w = wcwidth(*wc);
    if (w < 0) {
        *wc = L'?';
        w = 1;
    }
    *width = w;
    return n;
}

int ui_text_cols(const char *s, size_t len)
{
    int cols = 0;
    size_t i = 0;
    while (i < len) {
        wchar_t wc;
        int w;
        size_t sgr, n = next_char(s + i, len - i, &wc, &w, &sgr);
        if (sgr) {
            i += sgr;
            continue;
        }
        cols += w;
        i += n;
    }
    return cols;
}

/* An SGR sequence (as ui_nick writes them) -> the colour pair to use. */
static short sgr_pair(const char *s, size_t len, short base)
{
    int code = atoi(s + 2);
    if (code >= 31 && code <= 36)
        return (short)(code - 30);
    if (code >= 91 && code <= 96)
        return (short)(code - 90 + 6);
    return base;
}

/* Where the rows of a line start (byte offsets) when it is `cols` wide:
 * cut after the last space that fits, else before the character that does
 * not.  Returns the number of rows. */
static int wrap(const char *s, int cols, size_t *starts, int max)
{
    size_t len = strlen(s);
    int n = 0;
    starts[n++] = 0;
    int used = 0, room = cols;
    size_t i = 0, last_space = 0;
    while (i < len && n < max) {
        wchar_t wc;
        int w;
        size_t sgr, k = next_char(s + i, len - i, &wc, &w, &sgr);
        if (sgr) {
            i += sgr;
            continue;
        }
        if (used + w > room && used > 0) {
            size_t cut = last_space > starts[n - 1] ? last_space : i;
            starts[n++] = cut;
            room = cols - INDENT > 8 ? cols - INDENT : cols;
            used = 0;
            last_space = 0;
            i = cut;
            continue;
        }
        used += w;
        i += k;
        if (wc == L' ')
            last_space = i;
    }
    return n;
}

/* Draw s[0..len) at (y, x) up to column maxx, colours from `pair`
 * (updated by the line's colour codes, reset to `base`). */
static void put_text(int y, int x, const char *s, size_t len, int maxx, attr_t attr, short base,
                     short *pair)
{
    size_t i = 0;
    while (i < len) {
        wchar_t wc[2] = { 0, 0 };
        int w;
        size_t sgr, n = next_char(s + i, len - i, wc, &w, &sgr);
        if (sgr) {
            *pair = sgr_pair(s + i, sgr, base);
            i += sgr;
            continue;
        }
        i += n;
        if (x + w > maxx)
            break;
        if (wc[0] == L' ' && x == 0 && y < 0)
            continue;
        attr_t extra = (*pair >= 7 && *pair <= 12 && !T.bright) ? A_BOLD : 0;
        attr_set(attr | extra, *pair, NULL);
        mvaddnwstr(y, x, wc, 1);
        x += w;
    }
    attr_set(A_NORMAL, 0, NULL);
}

/* ---- drawing ---- */

static struct win *current(void)
{
    struct win *w = win_find(ui_current(T.a));
    return w ? w : win_at(0);
}

static int chat_rows(void)
{
    return LINES > 3 ? LINES - 2 : 1;
}

static int line_rows(const char *s)
{
    size_t starts[ROWS_MAX];
    return wrap(s, COLS, starts, ROWS_MAX);
}

/* One line of the window, its rows placed from screen row `y` (rows above
 * row `first` or from `bottom` on are skipped). */
static void draw_line(int y, int first, int bottom, const char *s, int flags)
{
    size_t starts[ROWS_MAX];
    int n = wrap(s, COLS, starts, ROWS_MAX);
    size_t len = strlen(s);
    attr_t attr = flags & LINE_MENTION ? A_BOLD : flags & LINE_PENDING ? A_DIM : A_NORMAL;
    short base = flags & LINE_MENTION && has_colors() ? PAIR_HIGHLIGHT : 0, pair = base;
    for (int r = 0; r < n; r++) {
        size_t end = r + 1 < n ? starts[r + 1] : len;
        const char *from = s + starts[r];
        size_t l = end - starts[r];
        if (r > 0)
            while (l > 0 && *from == ' ') {
                from++;
                l--;
            }
        if (y + r >= first && y + r < bottom)
            put_text(y + r, r ? (COLS - INDENT > 8 ? INDENT : 0) : 0, from, l, COLS, attr, base, &pair);
        else {
            /* still follow the colour codes */
            for (size_t i = 0; i < l; i++)
                if (from[i] == '\033' && i + 1 < l && from[i + 1] == '[')
                    pair = sgr_pair(from + i, l - i, base);
        }
    }
}

static void draw_marker(int y)
{
    attr_set(A_NORMAL, has_colors() ? PAIR_MARKER : 0, NULL);
    mvhline(y, 0, '-', COLS);
    mvaddstr(y, 5, " unread ");
    attr_set(A_NORMAL, 0, NULL);
}

/* A room with a topic: its first row shows it (reverse video). */
static int draw_topic(const struct win *w)
{
    if (!w->topic || w->name[0] != '#' || LINES < 5)
        return 0;
    attr_set(A_REVERSE, 0, NULL);
    mvhline(0, 0, ' ', COLS);
    char text[700];
    int n = snprintf(text, sizeof text, " %s: %s", w->name, w->topic);
    if (n >= (int)sizeof text)
        n = (int)sizeof text - 1;
    put_text(0, 0, text, (size_t)n, COLS, A_REVERSE, 0, &(short){ 0 });
    attr_set(A_NORMAL, 0, NULL);
    return 1;
}

static void draw_chat(struct win *w)
{
    int bar = draw_topic(w);
    int rows = chat_rows() - bar;
    /* From the newest line back: how many rows each takes (the unread
     * marker is one row before line read_mark). */
    static struct { long seq; int rows; } items[WIN_LINES + 1];
    int nitems = 0, sum = 0, need = rows + w->scroll;
    bool marker = w->read_mark >= w->first && w->read_mark < w->total;
    for (long seq = w->total - 1; seq >= w->first && sum < need; seq--) {
        int f;
        const char *s = win_line(w, seq, &f);
        items[nitems].seq = seq;
        items[nitems].rows = line_rows(s);
        sum += items[nitems++].rows;
        if (marker && seq == w->read_mark && sum < need) {
            items[nitems].seq = -1;
            items[nitems++].rows = 1;
            sum++;
        }
    }
    if (w->scroll > sum - rows)
        w->scroll = sum - rows > 0 ? sum - rows : 0;
    int top = sum - w->scroll - rows;       /* virtual row at screen row 0 */
    if (top < 0)
        top = 0;
    int v = 0;
    for (int k = nitems - 1; k >= 0; k--) {
        int y = v - top;
        if (y + items[k].rows > 0 && y < rows) {
            if (items[k].seq < 0) {
                draw_marker(y + bar);
            } else {
                int f;
                const char *s = win_line(w, items[k].seq, &f);
                draw_line(y + bar, bar, rows + bar, s, f);
            }
        }
        v += items[k].rows;
    }
}

static const char *win_label(const struct win *w)
{
    return w->name[0] ? w->name : "status";
}

static void draw_status(struct win *cur)
{
    int y = LINES - 2;
    attr_set(A_REVERSE, 0, NULL);
    mvhline(y, 0, ' ', COLS);
    char text[1024];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char clock[8];
    strftime(clock, sizeof clock, "%H:%M", &tm);
    const char *nick = T.a->nick[0] ? T.a->nick : T.a->want_nick;
    int n = snprintf(text, sizeof text, "[%s] [%s] [%d:%s]%s", clock, nick, win_index(cur) + 1,
                     win_label(cur), T.a->registered ? "" : " [not connected]");
    int x = 0;
    put_text(y, x, text, (size_t)n, COLS, A_REVERSE, 0, &(short){ 0 });
    x += ui_text_cols(text, (size_t)n);
    bool act = false;
    for (int i = 0; i < win_count(); i++) {
        struct win *w = win_at(i);
        if (w == cur || (!w->unread && !w->mentions))
            continue;
        n = snprintf(text, sizeof text, "%s%d:%s(%s%d)%s", act ? " " : " [Act: ", i + 1, win_label(w),
                     w->mentions ? "!" : "", w->unread, "");
        put_text(y, x, text, (size_t)n, COLS, A_REVERSE | (w->mentions ? A_BOLD : 0), 0, &(short){ 0 });
        x += ui_text_cols(text, (size_t)n);
        act = true;
    }
    if (act) {
        put_text(y, x, "]", 1, COLS, A_REVERSE, 0, &(short){ 0 });
        x++;
    }
    if (cur->scroll > 0)
        put_text(y, x, " [more below: PgDn]", 19, COLS, A_REVERSE | A_BOLD, 0, &(short){ 0 });
    attr_set(A_NORMAL, 0, NULL);
}

static int wcols(const wchar_t *s, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) {
        int w = wcwidth(s[i]);
        c += w > 0 ? w : w < 0 ? 1 : 0;
    }
    return c;
}

static void draw_input(void)
{
    int y = LINES - 1;
    move(y, 0);
    clrtoeol();
    const char *cur = ui_current(T.a);
    char prompt[PARLOR_NAME_MAX + 8];
    int pn = snprintf(prompt, sizeof prompt, "[%s] ", cur ? cur : "parlor");
    int pw = ui_text_cols(prompt, (size_t)pn);
    put_text(y, 0, prompt, (size_t)pn, COLS, A_NORMAL, 0, &(short){ 0 });
    int avail = COLS - pw - 1;
    if (avail < 1)
        avail = 1;
    if (T.pos < T.hscroll)
        T.hscroll = T.pos;
    while (T.hscroll < T.pos && wcols(T.in + T.hscroll, T.pos - T.hscroll) > avail)
        T.hscroll++;
    int x = pw;
    for (int i = T.hscroll; i < T.len; i++) {
        int w = wcwidth(T.in[i]);
        wchar_t c = w < 0 ? L'?' : T.in[i];
        if (w < 0)
            w = 1;
        if (x + w > COLS)
            break;
        mvaddnwstr(y, x, &c, 1);
        x += w;
    }
    move(y, pw + wcols(T.in + T.hscroll, T.pos - T.hscroll));
}

static void draw(void)
{
    struct win *cur = current();
    cur->unread = cur->mentions = 0;
    erase();
    draw_chat(cur);
    draw_status(cur);
    draw_input();
    refresh();
}

static void on_prepare(uv_prepare_t *p)
{
    if (T.on && T.dirty) {
        T.dirty = false;
        draw();
    }
}

void tui_dirty(void)
{
    T.dirty = true;
}

/* ---- windows ---- */

void tui_add(const char *name, int flags, const char *line)
{
    struct win *w = win_open(name ? name : "");
    if (!w)
        w = win_at(0);
    struct win *cur = current();
    win_add(w, line, flags);
    if (w != cur && (flags & LINE_MSG) && !(flags & LINE_HISTORY)) {
        w->unread++;
        if (flags & LINE_MENTION) {
            w->mentions++;
            beep();
        }
    } else if (w == cur && w->scroll > 0) {
        w->scroll += line_rows(line);       /* the view stays where it was */
    }
    T.dirty = true;
}

void tui_switched(const char *old)
{
    struct win *w = win_find(old);
    if (w)
        w->read_mark = w->total;
    T.dirty = true;
}

int tui_columns(void)
{
    return COLS > 0 ? COLS : 80;
}

void tui_resize(void)
{
    struct winsize ws;
    if (!T.on || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row < 1 || ws.ws_col < 1)
        return;
    resizeterm(ws.ws_row, ws.ws_col);
    clearok(stdscr, TRUE);
    T.dirty = true;
}

/* ---- the input line ---- */

static void insert(const wchar_t *s, int n)
{
    if (T.len + n > INPUT_MAX)
        n = INPUT_MAX - T.len;
    if (n <= 0)
        return;
    wmemmove(T.in + T.pos + n, T.in + T.pos, (size_t)(T.len - T.pos));
    wmemcpy(T.in + T.pos, s, (size_t)n);
    T.len += n;
    T.pos += n;
    T.in[T.len] = 0;
}

static void delete(int from, int to)
{
    if (from < 0)
        from = 0;
    if (to > T.len)
        to = T.len;
    if (from >= to)
        return;
    wmemmove(T.in + from, T.in + to, (size_t)(T.len - to));
    T.len -= to - from;
    T.in[T.len] = 0;
    if (T.pos > to)
        T.pos -= to - from;
    else if (T.pos > from)
        T.pos = from;
}

static void set_input_utf8(const char *s)
{
    T.len = T.pos = T.hscroll = 0;
    T.in[0] = 0;
    wchar_t w[INPUT_MAX + 1];
    size_t n = mbstowcs(w, s, INPUT_MAX);
    if (n != (size_t)-1)
        insert(w, (int)n);
}

static void history_move(int dir)
{
    int p = T.hist_pos + dir;
    if (p < 0 || p > T.nhist)
        return;
    T.hist_pos = p;
    set_input_utf8(p == T.nhist ? "" : T.hist[p]);
}

static void submit(void)
{
    char line[INPUT_MAX * 4 + 1];
    size_t n = wcstombs(line, T.in, sizeof line - 1);
    if (n == (size_t)-1)
        return;
    line[n] = '\0';
    T.len = T.pos = T.hscroll = 0;
    T.in[0] = 0;
    if (line[0]) {
        if (T.nhist == HIST_MAX) {
            free(T.hist[0]);
            memmove(T.hist, T.hist + 1, (HIST_MAX - 1) * sizeof T.hist[0]);
            T.nhist--;
        }
        T.hist[T.nhist++] = strdup(line);
    }
    T.hist_pos = T.nhist;
    struct win *w = current();
    w->scroll = 0;
    ui_submit(T.a, line);
}

/* ---- Tab completion ---- */

static int cmp_names(const void *x, const void *y)
{
    return strcasecmp(*(const char *const *)x, *(const char *const *)y);
}

/* What the word being completed may become: commands at the start of the
 * line, rooms after '#', else the current room's members (or the nick of
 * a private conversation). */
static int candidates(const char *prefix, bool at_start, char **out, int max)
{
    int n = 0;
    size_t pl = strlen(prefix);
    static char cmds[64][24];
    if (at_start && prefix[0] == '/') {
        const char *name;
        for (size_t i = 0; (name = cmd_name(i)) != NULL && n < max && i < 64; i++) {
            snprintf(cmds[i], sizeof cmds[i], "/%s", name);
            if (strncasecmp(cmds[i], prefix, pl) == 0)
                out[n++] = cmds[i];
        }
        return n;
    }
    if (prefix[0] == '#') {
        for (int i = 1; i < win_count() && n < max; i++) {
            struct win *w = win_at(i);
            if (w->name[0] == '#' && strncasecmp(w->name, prefix, pl) == 0)
                out[n++] = w->name;
        }
    } else {
        struct win *w = current();
        for (int i = 0; i < w->nmembers && n < max; i++)
            if (strncasecmp(w->members[i], prefix, pl) == 0)
                out[n++] = w->members[i];
        if (w->name[0] && w->name[0] != '#' && strncasecmp(w->name, prefix, pl) == 0 && n < max)
            out[n++] = w->name;
    }
    qsort(out, (size_t)n, sizeof out[0], cmp_names);
    return n;
}

static void complete(void)
{
    if (!T.completing) {
        int s = T.pos;
        while (s > 0 && T.in[s - 1] != L' ')
            s--;
        wchar_t word[PARLOR_NAME_MAX];
        int wl = T.pos - s;
        if (wl >= PARLOR_NAME_MAX)
            return;
        wmemcpy(word, T.in + s, (size_t)wl);
        word[wl] = 0;
        if (wcstombs(T.comp_prefix, word, sizeof T.comp_prefix) == (size_t)-1)
            return;
        T.comp_start = s;
        T.comp_next = 0;
        T.completing = true;
    }
    char *c[CANDIDATES_MAX];
    int n = candidates(T.comp_prefix, T.comp_start == 0, c, CANDIDATES_MAX);
    if (n == 0) {
        beep();
        T.completing = false;
        return;
    }
    const char *pick = c[T.comp_next % n];
    T.comp_next++;
    delete(T.comp_start, T.pos);
    T.pos = T.comp_start;
    char text[PARLOR_NAME_MAX + 4];
    bool nick = pick[0] != '/' && pick[0] != '#';
    snprintf(text, sizeof text, "%s%s", pick, nick && T.comp_start == 0 ? ": " : " ");
    wchar_t w[PARLOR_NAME_MAX + 4];
    size_t wl = mbstowcs(w, text, PARLOR_NAME_MAX + 3);
    if (wl != (size_t)-1)
        insert(w, (int)wl);
}

/* ---- keys ---- */

static void scroll_page(int dir)
{
    struct win *w = current();
    int page = chat_rows() > 2 ? chat_rows() - 1 : 1;
    w->scroll += dir * page;
    if (w->scroll < 0)
        w->scroll = 0;
}

static void key_code(wint_t k)
{
    switch (k) {
    case KEY_ENTER: submit(); break;
    case KEY_BACKSPACE: delete(T.pos - 1, T.pos); break;
    case KEY_DC: delete(T.pos, T.pos + 1); break;
    case KEY_LEFT: if (T.pos > 0) T.pos--; break;
    case KEY_RIGHT: if (T.pos < T.len) T.pos++; break;
    case KEY_HOME: T.pos = 0; break;
    case KEY_END: T.pos = T.len; break;
    case KEY_UP: history_move(-1); break;
    case KEY_DOWN: history_move(1); break;
    case KEY_PPAGE: scroll_page(1); break;
    case KEY_NPAGE: scroll_page(-1); break;
    case KEY_RESIZE: tui_resize(); break;
    default: break;
    }
}

static void key_char(wchar_t c)
{
    struct win *w = current();
    int idx = win_index(w) + 1;
    switch (c) {
    case 1: T.pos = 0; break;                                  /* Ctrl-A */
    case 2: if (T.pos > 0) T.pos--; break;                     /* Ctrl-B */
    case 4: delete(T.pos, T.pos + 1); break;                   /* Ctrl-D */
    case 5: T.pos = T.len; break;                              /* Ctrl-E */
    case 6: if (T.pos < T.len) T.pos++; break;                 /* Ctrl-F */
    case 8: case 127: delete(T.pos - 1, T.pos); break;         /* Backspace */
    case 9: complete(); return;                                /* Tab */
    case 10: case 13: submit(); break;                         /* Enter */
    case 11: delete(T.pos, T.len); break;                      /* Ctrl-K */
    case 12: clearok(stdscr, TRUE); break;                     /* Ctrl-L */
    case 14: ui_win(T.a, idx % win_count() + 1); break;        /* Ctrl-N */
    case 16: ui_win(T.a, idx > 1 ? idx - 1 : win_count()); break;   /* Ctrl-P */
    case 21: delete(0, T.pos); break;                          /* Ctrl-U */
    case 23: {                                                 /* Ctrl-W */
        int s = T.pos;
        while (s > 0 && T.in[s - 1] == L' ')
            s--;
        while (s > 0 && T.in[s - 1] != L' ')
            s--;
        delete(s, T.pos);
        break;
    }
    default:
        if (c >= 32)
            insert(&c, 1);
        break;
    }
    T.completing = false;
}

/* ESC then a digit is Alt-digit: window 1-9 (0: 10). */
static void key_escape(void)
{
    wint_t c;
    int r = get_wch(&c);
    if (r == OK && c >= L'0' && c <= L'9')
        ui_win(T.a, c == L'0' ? 10 : (int)(c - L'0'));
    else if (r == OK && (c == L'n' || c == L'p'))
        key_char(c == L'n' ? 14 : 16);
}

static void on_stdin(uv_poll_t *p, int status, int events)
{
    struct app *a = p->data;
    if (status < 0) {
        ui_quit(a, "parlor");
        return;
    }
    for (int i = 0; i < 4096 && T.on; i++) {
        wint_t c;
        int r = get_wch(&c);
        if (r == ERR)
            break;
        if (r == KEY_CODE_YES) {
            key_code(c);
            if (c != KEY_RESIZE)
                T.completing = false;
        } else if (c == 27) {
            key_escape();
        } else {
            key_char((wchar_t)c);
        }
        T.dirty = true;
    }
}

/* ---- start and stop ---- */

bool tui_start(struct app *a)
{
    const char *term = getenv("TERM");
    if (!term || !term[0] || strcmp(term, "dumb") == 0 || !isatty(STDIN_FILENO) ||
        !isatty(STDOUT_FILENO))
        return false;
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8");     /* IRC text is UTF-8 */
    SCREEN *s = newterm(NULL, stdout, stdin);
    if (!s)
        return false;
    set_term(s);
    set_escdelay(25);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    if (has_colors()) {
        start_color();
        use_default_colors();
        T.bright = COLORS >= 16;
        static const short base[] = { COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE,
                                      COLOR_MAGENTA, COLOR_CYAN };
        for (short i = 0; i < 6; i++) {
            init_pair((short)(i + 1), base[i], -1);
            init_pair((short)(i + 7), T.bright ? (short)(base[i] + 8) : base[i], -1);
        }
        init_pair(PAIR_HIGHLIGHT, COLOR_YELLOW, -1);
        init_pair(PAIR_MARKER, COLOR_BLUE, -1);
    }
    T.a = a;
    T.on = true;
    T.dirty = true;
    uv_poll_init(a->loop, &T.poll, STDIN_FILENO);
    T.poll.data = a;
    uv_poll_start(&T.poll, UV_READABLE, on_stdin);
    uv_prepare_init(a->loop, &T.prepare);
    uv_prepare_start(&T.prepare, on_prepare);
    return true;
}

void tui_stop(void)
{
    if (!T.on)
        return;
    T.on = false;
    uv_close((uv_handle_t *)&T.poll, NULL);
    uv_close((uv_handle_t *)&T.prepare, NULL);
    endwin();
    for (int i = 0; i < T.nhist; i++)
        free(T.hist[i]);
    T.nhist = 0;
    win_close_all();
}
