/* TLS over a non-blocking socket: see common/tls.h. */
#include "common/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_conn {
    SSL *ssl;
    bool ready;
    int want;                      /* TLS_POLL_* the last WANT waits for */
    char err[160];
};

/* The oldest queued OpenSSL error as text, or `fallback`; clears the queue. */
static void take_error(char *out, size_t cap, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        /* "error:0A00010B:SSL routines::wrong version number": keep the reason */
        const char *reason = strrchr(text, ':');
        snprintf(out, cap, "%s", reason && reason[1] ? reason + 1 : text);
    } else {
        snprintf(out, cap, "%s", fallback);
    }
    ERR_clear_error();
}

static int read_file(const char *path, char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(out, 1, cap, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
        return -1;
    }
    *len = n;
    return 0;
}

/* Load a PEM chain and key (from memory) into ctx and check they match. */
static int use_pem(SSL_CTX *ctx, const char *cert, size_t cert_len, const char *key, size_t key_len,
                   char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(cert, (int)cert_len);
    X509 *leaf = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    if (!leaf) {
        take_error(err, errlen, "no certificate");
        snprintf(err + strlen(err), errlen - strlen(err), " (certificate file)");
        BIO_free(b);
        return -1;
    }
    int ok = SSL_CTX_use_certificate(ctx, leaf);
    X509_free(leaf);
    SSL_CTX_clear_chain_certs(ctx);
    X509 *ca;
    while (ok && (ca = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!SSL_CTX_add0_chain_cert(ctx, ca)) {
            X509_free(ca);
            ok = 0;
        }
    BIO_free(b);
    ERR_clear_error();             /* the end of the chain reads as an error */
    if (!ok) {
        take_error(err, errlen, "bad certificate chain");
        return -1;
    }
    b = BIO_new_mem_buf(key, (int)key_len);
    EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!pk) {
        take_error(err, errlen, "no private key");
        snprintf(err + strlen(err), errlen - strlen(err), " (key file)");
        return -1;
    }
    ok = SSL_CTX_use_PrivateKey(ctx, pk);
    EVP_PKEY_free(pk);
    if (!ok || !SSL_CTX_check_private_key(ctx)) {
        take_error(err, errlen, "the key does not match the certificate");
        snprintf(err, errlen, "the key does not match the certificate");
        return -1;
    }
    return 0;
}

/* Any client certificate is accepted: only its fingerprint is used. */
static int accept_any_cert(int preverify, X509_STORE_CTX *x)
{
    (void)preverify;
    (void)x;
    return 1;
}

/* Session tickets: this process's keys (a name of 16 bytes, an HMAC key of
 * 32, an AES key of 32), the current one and the one before the last
 * rotation, set by tls_server_ctx from the material.  A ticket under the
 * previous key is accepted and replaced (return 2); one under an older key
 * means a full handshake. */
static unsigned char tk_cur[TLS_TICKET_KEY_LEN], tk_prev[TLS_TICKET_KEY_LEN];
static bool tk_have_prev;

static int ticket_cb(SSL *s, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int enc)
{
    (void)s;
    const unsigned char *k = tk_cur;
    int ret = 1;
    if (enc) {
        memcpy(name, k, 16);
        if (RAND_bytes(iv, 16) != 1 || !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48, iv))
            return -1;
    } else {
        if (memcmp(name, tk_cur, 16) != 0) {
            if (!tk_have_prev || memcmp(name, tk_prev, 16) != 0)
                return 0;                   /* unknown key: a full handshake */
            k = tk_prev;
            ret = 2;                        /* accepted; a new ticket follows */
        }
        if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48, iv))
            return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)(k + 16), 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) ? ret : -1;
}

struct ssl_ctx_st *tls_server_ctx(const struct tls_material *m, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        take_error(err, errlen, "cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                             SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
    /* TLS 1.2: forward secrecy and AEAD only. */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
    static const unsigned char sid_ctx[] = "parlord";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    /* Stateless tickets under the shared key; no per-process cache. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    if (use_pem(ctx, m->cert, m->cert_len, m->key, m->key_len, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    memcpy(tk_cur, m->ticket_key, sizeof tk_cur);
    memcpy(tk_prev, m->ticket_prev, sizeof tk_prev);
    tk_have_prev = m->has_prev;
    return ctx;
}

int tls_material_load(struct tls_material *m, const char *cert_path, const char *key_path,
                      char *err, size_t errlen)
{
    static struct tls_material next;
    next = *m;
    if (read_file(cert_path, next.cert, sizeof next.cert, &next.cert_len, err, errlen) < 0 ||
        read_file(key_path, next.key, sizeof next.key, &next.key_len, err, errlen) < 0)
        return -1;
    SSL_CTX *ctx = tls_server_ctx(&next, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(ctx);
    *m = next;
    memset(&next, 0, sizeof next);
    return 0;
}

void tls_material_describe(const struct tls_material *m, char *out, size_t cap)
{
    snprintf(out, cap, "none");
    BIO *b = BIO_new_mem_buf(m->cert, (int)m->cert_len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x) {
        ERR_clear_error();
        return;
    }
    char subject[160] = "", until[32] = "?";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, subject, sizeof subject);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
        strftime(until, sizeof until, "%Y-%m-%d %H:%M UTC", &tm);
    snprintf(out, cap, "CN=%s, expires %s; TLSv1.2, TLSv1.3", subject, until);
    X509_free(x);
    ERR_clear_error();
}

void tls_material_new_ticket_key(struct tls_material *m)
{
    if (RAND_bytes(m->ticket_key, sizeof m->ticket_key) != 1)
        abort();
}

void tls_material_rotate_ticket_key(struct tls_material *m)
{
    memcpy(m->ticket_prev, m->ticket_key, sizeof m->ticket_prev);
    m->has_prev = true;
    tls_material_new_ticket_key(m);
}

struct ssl_ctx_st *tls_client_ctx(const char *ca_file, bool insecure, const char *cert_file,
                                  const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        take_error(err, errlen, "cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    if (!insecure) {
        int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            take_error(err, errlen, "cannot load the certificate authorities");
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (cert_file) {
        const char *kf = key_file ? key_file : cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, kf, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            take_error(err, errlen, "bad client certificate or key");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

struct tls_conn *tls_conn_new(struct ssl_ctx_st *ctx, int fd, bool server, const char *host)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    if (!t->ssl || (fd >= 0 && !SSL_set_fd(t->ssl, fd))) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (host && host[0]) {
            SSL_set_tlsext_host_name(t->ssl, host);
            SSL_set1_host(t->ssl, host);
        }
    }
    return t;
}

struct tls_conn *tls_conn_new_mem(struct ssl_ctx_st *ctx, bool server, const char *host)
{
    struct tls_conn *t = tls_conn_new(ctx, -1, server, host);
    if (!t)
        return NULL;
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    if (!in || !out) {
        BIO_free(in);
        BIO_free(out);
        tls_conn_free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(in, -1);    /* empty: "wait for more", not the end */
    SSL_set_bio(t->ssl, in, out);
    return t;
}

void tls_feed(struct tls_conn *t, const void *data, size_t len)
{
    BIO_write(SSL_get_rbio(t->ssl), data, (int)len);
}

size_t tls_take_output(struct tls_conn *t, void *buf, size_t cap)
{
    int n = BIO_read(SSL_get_wbio(t->ssl), buf, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

struct ssl_st *tls_conn_ssl(struct tls_conn *t)
{
    return t->ssl;
}

/* Map an OpenSSL result r (<= 0) to TLS_WANT_*, 0 (clean end) or TLS_ERROR. */
static int outcome(struct tls_conn *t, int r, const char *what)
{
    int e = SSL_get_error(t->ssl, r);
    t->want = 0;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = TLS_POLL_READ;
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        t->want = TLS_POLL_WRITE;
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EINTR) {
            t->want = TLS_POLL_READ;
            return TLS_WANT_READ;
        }
        take_error(t->err, sizeof t->err,
                   errno ? strerror(errno) : "connection closed in the middle");
        return TLS_ERROR;
    default:
        take_error(t->err, sizeof t->err, what);
        return TLS_ERROR;
    }
}

int tls_handshake(struct tls_conn *t)
{
    if (t->ready)
        return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->ready = true;
        t->want = 0;
        return 1;
    }
    r = outcome(t, r, "handshake failed");
    if (r == 0) {
        snprintf(t->err, sizeof t->err, "closed during the handshake");
        return TLS_ERROR;
    }
    if (r == TLS_ERROR && SSL_get_verify_result(t->ssl) != X509_V_OK && !SSL_is_server(t->ssl))
        snprintf(t->err, sizeof t->err, "certificate verification failed: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
    return r;
}

bool tls_ready(const struct tls_conn *t)
{
    return t->ready;
}

ssize_t tls_read(struct tls_conn *t, void *buf, size_t len)
{
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, buf, len, &n);
    if (r == 1) {
        t->want = 0;
        return (ssize_t)n;
    }
    return outcome(t, 0, "read failed");
}

ssize_t tls_write(struct tls_conn *t, const void *buf, size_t len)
{
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_write_ex(t->ssl, buf, len, &n);
    if (r == 1) {
        t->want = 0;
        return (ssize_t)n;
    }
    r = outcome(t, 0, "write failed");
    return r == 0 ? TLS_ERROR : r;
}

int tls_want(const struct tls_conn *t)
{
    return t->want;
}

size_t tls_pending(const struct tls_conn *t)
{
    return (size_t)SSL_pending(t->ssl);
}

void tls_shutdown(struct tls_conn *t)
{
    if (t->ready) {
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}

const char *tls_error(const struct tls_conn *t)
{
    return t->err;
}

const char *tls_version(const struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls_cipher(const struct tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

bool tls_resumed(const struct tls_conn *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

static bool fingerprint(X509 *x, char out[TLS_FP_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_digest(x, EVP_sha256(), md, &n) || n * 2 != TLS_FP_LEN)
        return false;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return true;
}

bool tls_peer_fingerprint(const struct tls_conn *t, char out[TLS_FP_LEN + 1])
{
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    return x && fingerprint(x, out);
}

bool tls_file_fingerprint(const char *path, char out[TLS_FP_LEN + 1])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    bool ok = x && fingerprint(x, out);
    X509_free(x);
    ERR_clear_error();
    return ok;
}
