/* See common/password.h. */
#include "common/password.h"

#include <sodium.h>
#include <string.h>

_Static_assert(PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "PASSWORD_HASH_MAX");

/* sodium_init is thread-safe and idempotent; it only fails without a
 * source of randomness. */
static bool ready(void)
{
    return sodium_init() >= 0;
}

int password_hash(const char *password, size_t len, char *out)
{
    if (!ready())
        return -1;
    return crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

bool password_verify(const char *hash, const char *password, size_t len)
{
    return ready() && crypto_pwhash_str_verify(hash, password, len) == 0;
}

bool password_hash_valid(const char *s)
{
    return strncmp(s, crypto_pwhash_argon2id_STRPREFIX, strlen(crypto_pwhash_argon2id_STRPREFIX)) == 0 &&
           strlen(s) < PASSWORD_HASH_MAX;
}
