/* A parlord with a TLS listener besides its plaintext one, for the tests
 * that need TLS (test_tls.c defines these). */
#ifndef PARLOR_IT_TLS_SERVER_H
#define PARLOR_IT_TLS_SERVER_H

#include "tests/integration/harness.h"

/* A server with a TLS listener; its certificate is certdir/server.pem
 * (self-signed, for localhost and 127.0.0.1). */
struct tls_server {
    struct it_server s;
    int tls_port;
    char cert[256];
    char certdir[64];
};

/* Make the certificate and start the server with `extra` options (NULL-
 * terminated, may be NULL); stop it and remove the certificate. */
void tls_server_start(struct tls_server *t, const char *const *extra);
void tls_server_stop(struct tls_server *t);

#endif
