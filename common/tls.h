/* TLS over a non-blocking socket (OpenSSL 3), for whoever drives the socket
 * from a poll loop: parlord's workers (server side), the parlor client and
 * the test harness (client side).
 *
 * A struct tls_conn wraps one connected fd.  Every call returns at once:
 * TLS_WANT_READ / TLS_WANT_WRITE mean "call again when the socket is
 * readable / writable" (tls_want() tells which, for the poll events).
 *
 * Server settings (tls_server_ctx): TLS 1.2 and 1.3 only, the server's
 * cipher preference, no compression, no renegotiation, session tickets
 * under a key given by the caller (parlord's master makes one and every
 * worker uses it, so a client resumes on any worker), client certificates
 * asked for but not required (their SHA-256 fingerprint is the CertFP). */
#ifndef PARLOR_TLS_H
#define PARLOR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ssl_ctx_st;                 /* OpenSSL's SSL_CTX */
struct ssl_st;                     /* OpenSSL's SSL */
struct tls_conn;

#define TLS_TICKET_KEY_LEN 80      /* name 16, HMAC 32, AES 32 */
#define TLS_PEM_MAX (24 * 1024)    /* certificate chain or key file, bytes */
#define TLS_FP_LEN 64              /* SHA-256 in hex */

enum { TLS_ERROR = -1, TLS_WANT_READ = -2, TLS_WANT_WRITE = -3 };
enum { TLS_POLL_READ = 1, TLS_POLL_WRITE = 2 };

/* A server's certificate chain and key (PEM text), and the ticket key. */
struct tls_material {
    char cert[TLS_PEM_MAX];
    size_t cert_len;
    char key[TLS_PEM_MAX];
    size_t key_len;
    unsigned char ticket_key[TLS_TICKET_KEY_LEN];
    unsigned char ticket_prev[TLS_TICKET_KEY_LEN];  /* the key before the last rotation */
    bool has_prev;
};

/* Read cert_path and key_path and check that they make a working pair;
 * only then replace m's cert and key (its ticket key is kept).  -1 with a
 * reason in err otherwise. */
int tls_material_load(struct tls_material *m, const char *cert_path, const char *key_path,
                      char *err, size_t errlen);
/* "CN=..., expires YYYY-MM-DD; TLSv1.2, TLSv1.3" for status displays. */
void tls_material_describe(const struct tls_material *m, char *out, size_t cap);
/* A new random ticket key in m. */
void tls_material_new_ticket_key(struct tls_material *m);
/* Rotation: the current key becomes the previous one (tickets made under it
 * are still accepted, and replaced by new ones) and a new one is made. */
void tls_material_rotate_ticket_key(struct tls_material *m);
/* A server context from m; NULL with a reason in err. */
struct ssl_ctx_st *tls_server_ctx(const struct tls_material *m, char *err, size_t errlen);
/* A client context: verify the server against ca_file (NULL: the system
 * store) unless `insecure`; cert_file (NULL: none) holds the client's
 * certificate and key (PEM, both in one file, or the key in key_file). */
struct ssl_ctx_st *tls_client_ctx(const char *ca_file, bool insecure, const char *cert_file,
                                  const char *key_file, char *err, size_t errlen);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* Wrap a connected socket.  `host` (client side, may be NULL) is sent as
 * SNI and checked against the server's certificate when verifying. */
struct tls_conn *tls_conn_new(struct ssl_ctx_st *ctx, int fd, bool server, const char *host);
/* The same over memory instead of a socket, for a caller that moves the
 * bytes itself (a libuv stream): it gives what the network brought to
 * tls_feed() and sends what tls_take_output() returns after every call. */
struct tls_conn *tls_conn_new_mem(struct ssl_ctx_st *ctx, bool server, const char *host);
void tls_feed(struct tls_conn *t, const void *data, size_t len);
/* Up to cap bytes to send to the network (0: none waiting). */
size_t tls_take_output(struct tls_conn *t, void *buf, size_t cap);
void tls_conn_free(struct tls_conn *t);
/* The OpenSSL object, for what this layer does not wrap (sessions). */
struct ssl_st *tls_conn_ssl(struct tls_conn *t);
/* 1 once the handshake is done, else TLS_WANT_* or TLS_ERROR. */
int tls_handshake(struct tls_conn *t);
bool tls_ready(const struct tls_conn *t);
/* Bytes read (> 0), 0 at the end of the stream, or TLS_WANT_* / TLS_ERROR. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len);
/* Bytes written (> 0, maybe fewer than len), or TLS_WANT_* / TLS_ERROR.
 * After a TLS_WANT_*, call again with the same bytes (the buffer may move). */
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len);
/* Poll events the last call that returned TLS_WANT_* waits for (0: none). */
int tls_want(const struct tls_conn *t);
/* Bytes already decrypted and not read yet. */
size_t tls_pending(const struct tls_conn *t);
/* Send close_notify, best effort (never waits). */
void tls_shutdown(struct tls_conn *t);
/* Why the last call failed ("" if it did not). */
const char *tls_error(const struct tls_conn *t);
/* After the handshake: "TLSv1.3", the cipher suite's name, whether the
 * session was resumed. */
const char *tls_version(const struct tls_conn *t);
const char *tls_cipher(const struct tls_conn *t);
bool tls_resumed(const struct tls_conn *t);
/* The peer certificate's SHA-256 fingerprint in lower-case hex (TLS_FP_LEN
 * characters + NUL); false when the peer sent none. */
bool tls_peer_fingerprint(const struct tls_conn *t, char out[TLS_FP_LEN + 1]);
/* The same for a PEM certificate file (the client's own, for display). */
bool tls_file_fingerprint(const char *path, char out[TLS_FP_LEN + 1]);

#endif
