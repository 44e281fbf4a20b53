#include "master/control_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int control_parse_line(const char *line, struct control_line *out)
{
    out->json = false;
    out->argc = 0;
    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, "json ", 5) == 0) {
        out->json = true;
        line += 5;
        while (*line == ' ')
            line++;
    }
    snprintf(out->words, sizeof out->words, "%s", line);
    char *save;
    for (char *tok = strtok_r(out->words, " \t", &save); tok && out->argc < CONTROL_MAX_ARGS;
         tok = strtok_r(NULL, " \t", &save))
        out->argv[out->argc++] = tok;
    if (out->argc == 0) {
        out->rest = line;
        return -EINVAL;
    }
    const char *rest = line + strlen(out->argv[0]);
    while (*rest == ' ' || *rest == '\t')
        rest++;
    out->rest = rest;
    return 0;
}
