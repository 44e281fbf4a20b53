/* worker/sasl_plain.c: SASL PLAIN messages as AUTHENTICATE delivers them
 * (base64, up to SASL_MAX bytes).  Two halves of the input: the raw base64
 * as a client may send it, and the same bytes encoded properly, so the
 * decoder's checks after base64 are reached too. */
#include <sodium.h>
#include <string.h>

#include "common/irc.h"
#include "worker/sasl_plain.h"
#include "fuzz/fuzz.h"

#define SASL_MAX 1200              /* as in worker/account.c */
#define PASSWORD_MAX 256

static void check(const char *b64, size_t len)
{
    unsigned char bin[SASL_MAX];
    struct sasl_plain_msg m;
    if (sasl_plain_decode(b64, len, bin, sizeof bin, PASSWORD_MAX, &m) < 0)
        return;
    const char *end = (const char *)bin + sizeof bin;
    FUZZ_CHECK(m.authcid > (const char *)bin && m.authcid < end && m.authcid[0]);
    FUZZ_CHECK(m.password > m.authcid && m.password + m.password_len < end);
    FUZZ_CHECK(m.password_len >= 1 && m.password_len <= PASSWORD_MAX);
    FUZZ_CHECK(!memchr(m.password, '\0', m.password_len) && m.password[m.password_len] == '\0');
    FUZZ_CHECK(!m.authzid[0] || irc_casecmp(m.authzid, m.authcid) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SASL_MAX)
        return 0;
    char *raw = malloc(size ? size : 1);
    FUZZ_CHECK(raw != NULL);
    memcpy(raw, data, size);
    check(raw, size);
    free(raw);

    char b64[sodium_base64_ENCODED_LEN(SASL_MAX, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, data, size, sodium_base64_VARIANT_ORIGINAL);
    check(b64, strlen(b64));
    return 0;
}
