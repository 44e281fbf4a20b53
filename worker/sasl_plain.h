/* SASL PLAIN (RFC 4616) message decoding: base64 of
 * "authzid NUL authcid NUL password".  Pure: no I/O, no allocation, no
 * client; worker/account.c does the rest of the exchange. */
#ifndef PARLOR_WORKER_SASL_PLAIN_H
#define PARLOR_WORKER_SASL_PLAIN_H

#include <stddef.h>

/* Pointers into the caller's `bin` buffer. */
struct sasl_plain_msg {
    const char *authzid;           /* "" when not given */
    const char *authcid;           /* NUL-terminated, non-empty */
    const char *password;          /* password_len bytes, no NUL inside */
    size_t password_len;
};

/* Decode `b64len` bytes of base64 (standard alphabet, padded) into bin[0..cap)
 * (one byte is kept for a terminating NUL) and split it.  Returns 0 and fills
 * *out, or -EINVAL when the base64 is bad, a part is missing, the authcid is
 * empty, the password is empty, longer than password_max or holds a NUL, or
 * the authzid names someone else than the authcid (under the casemapping). */
int sasl_plain_decode(const char *b64, size_t b64len, unsigned char *bin, size_t cap,
                      size_t password_max, struct sasl_plain_msg *out);

#endif
