#include "worker/sasl_plain.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "common/irc.h"

int sasl_plain_decode(const char *b64, size_t b64len, unsigned char *bin, size_t cap,
                      size_t password_max, struct sasl_plain_msg *out)
{
    size_t len = 0;
    if (cap == 0 || sodium_base642bin(bin, cap - 1, b64, b64len, NULL, &len, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) != 0)
        return -EINVAL;
    bin[len] = '\0';
    const unsigned char *z1 = memchr(bin, '\0', len);
    const unsigned char *z2 = z1 ? memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - bin)) : NULL;
    if (!z2)
        return -EINVAL;
    const char *authzid = (const char *)bin, *authcid = (const char *)z1 + 1;
    const char *password = (const char *)z2 + 1;
    size_t plen = len - (size_t)(z2 + 1 - bin);
    if (!authcid[0] || plen == 0 || plen > password_max || memchr(password, '\0', plen) ||
        (authzid[0] && irc_casecmp(authzid, authcid) != 0))
        return -EINVAL;      /* malformed, or asks to act as someone else */
    out->authzid = authzid;
    out->authcid = authcid;
    out->password = password;
    out->password_len = plen;
    return 0;
}
