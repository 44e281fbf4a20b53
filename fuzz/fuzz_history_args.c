/* worker/history_args.c: CHATHISTORY parameters (split at spaces, as
 * irc_parse would give them) and the timestamp parser. */
#include <string.h>

#include "worker/history_args.h"
#include "fuzz/fuzz.h"

#define MAX_PARAMS 15

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *mem, *params[MAX_PARAMS];
    int n = fuzz_split(data, size, ' ', params, MAX_PARAMS, &mem);
    struct history_args h;
    if (history_args_parse(n, params, &h) == 0) {
        int want = history_subs[h.sub].nparams;
        FUZZ_CHECK(n == want);
        FUZZ_CHECK(h.limit >= 1 && h.limit <= 100);
        if (h.sub == SUB_TARGETS)
            FUZZ_CHECK(h.a.kind == SEL_TIME && h.b.kind == SEL_TIME);
        FUZZ_CHECK(memchr(h.a.value, '\0', sizeof h.a.value) && memchr(h.b.value, '\0', sizeof h.b.value));
    } else {
        FUZZ_CHECK(h.fail_code && h.fail_text);
        FUZZ_CHECK(memchr(h.fail_context, '\0', sizeof h.fail_context));
    }
    /* A timestamp that parses prints back (ISO form) to the same instant. */
    int64_t ms, again;
    if (history_parse_timestamp(params[0], &ms) == 0) {
        char iso[64];
        history_format_ms(ms, true, iso, sizeof iso);
        FUZZ_CHECK(history_parse_timestamp(iso, &again) == 0 && again == ms);
    }
    free(mem);
    return 0;
}
