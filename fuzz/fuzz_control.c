/* master/control_parse.c: the control socket's command line. */
#include <string.h>

#include "master/control_parse.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As master/control.c hands it over: one line, no NUL, at most
     * CONTROL_LINE_MAX - 1 bytes. */
    char line[CONTROL_LINE_MAX];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    static struct control_line cl;
    size_t len = strlen(line);
    if (control_parse_line(line, &cl) < 0) {
        FUZZ_CHECK(cl.argc == 0);
        return 0;
    }
    FUZZ_CHECK(cl.argc >= 1 && cl.argc <= CONTROL_MAX_ARGS);
    for (int i = 0; i < cl.argc; i++) {
        FUZZ_CHECK(cl.argv[i] >= cl.words && cl.argv[i] < cl.words + sizeof cl.words);
        FUZZ_CHECK(cl.argv[i][0] && !strpbrk(cl.argv[i], " \t"));
    }
    FUZZ_CHECK(cl.rest >= line && cl.rest <= line + len);
    /* What `kick NICK REASON` does with rest: the reason starts after the
     * nick, inside the line. */
    if (cl.argc >= 2) {
        const char *reason = cl.rest + strlen(cl.argv[1]);
        FUZZ_CHECK(reason <= line + len);
    }
    return 0;
}
