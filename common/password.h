/* Password hashes: libsodium's crypto_pwhash_str (argon2id with
 * OPSLIMIT/MEMLIMIT_INTERACTIVE: tens of milliseconds and 64 MiB each).
 * Used for account passwords (worker/account.c), operator passwords in the
 * configuration (worker/oper.c) and `parlord hash-password`.  Both calls
 * are slow on purpose: the server runs them on libuv's thread pool. */
#ifndef PARLOR_PASSWORD_H
#define PARLOR_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128      /* crypto_pwhash_STRBYTES, with the NUL */

/* Hash `len` bytes of `password` into `out` (PASSWORD_HASH_MAX bytes).
 * Returns 0, or -1 when libsodium cannot (out of memory). */
int password_hash(const char *password, size_t len, char *out);
/* True when `password` matches `hash` (a string from password_hash). */
bool password_verify(const char *hash, const char *password, size_t len);
/* True when `s` looks like what password_hash writes ("$argon2id$..."). */
bool password_hash_valid(const char *s);

#endif
