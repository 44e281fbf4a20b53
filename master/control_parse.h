/* The control socket's command line, split into words (master/control.c
 * runs it).  Pure: no I/O, no allocation. */
#ifndef PARLOR_MASTER_CONTROL_PARSE_H
#define PARLOR_MASTER_CONTROL_PARSE_H

#include <stdbool.h>

#define CONTROL_LINE_MAX 8192      /* longest command line, NUL included */
#define CONTROL_MAX_ARGS 16        /* words after the 16th are ignored */

struct control_line {
    bool json;                     /* the line started with "json " */
    int argc;
    char *argv[CONTROL_MAX_ARGS];  /* point into words[] */
    const char *rest;              /* into the line: the raw text after the
                                      command word, for free-text arguments */
    char words[CONTROL_LINE_MAX];
};

/* Split `line` (NUL-terminated; longer ones are cut at CONTROL_LINE_MAX - 1
 * bytes for the words): leading blanks, an optional "json " prefix, then
 * words separated by spaces or tabs.  `line` is not modified; out->rest
 * points into it.  Returns 0, or -EINVAL when there is no word at all. */
int control_parse_line(const char *line, struct control_line *out);

#endif
