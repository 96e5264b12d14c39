/* TLS for the HTTP server (mbedTLS 2.28): a per-worker context holding the certificates, and a
 * per-connection engine over in-memory buffers, so libuv does all socket I/O and nothing blocks. */
#ifndef QR_TLS_H
#define QR_TLS_H
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* One certificate to serve. */
typedef struct {
  const char *cert;          /* PEM file: the certificate, then its intermediates */
  const char *key;           /* PEM file: its private key (not encrypted) */
  const char *const *hosts;  /* names it answers for (NULL-terminated; "*.example.org" allowed),
                                or NULL: the DNS names in the certificate */
} qr_tls_cert_t;

typedef struct qr_tls_s qr_tls_t;

/* 1 when this binary was built with TLS (QUIRE_TLS), else 0. */
int qr_tls_available(void);

/* Reads the certificates and keys now (nothing is borrowed after the call) and sets up a server
 * configuration: TLS 1.2 (the newest version mbedTLS 2.28 has for servers), ECDHE key exchange
 * with AES-GCM or ChaCha20-Poly1305 only, SNI choosing among the certificates (the first is the
 * default for clients that send no or an unknown name), per-process session tickets.
 * Returns 0 with *out (free with qr_tls_free), or QR_EINVAL/QR_EIO with a message in err. */
int qr_tls_new(qr_tls_t **out, const qr_tls_cert_t *certs, int ncerts, char *err, size_t errlen);
void qr_tls_free(qr_tls_t *t);

/* Describes certificate i for `quire config check`: the names it is chosen for (comma-separated)
 * and when it expires ("YYYY-MM-DD HH:MM:SS UTC"); *expired is 1 past that time. Returns 0, or
 * QR_EINVAL when i is out of range. Writes into the caller's buffers. */
int qr_tls_cert_info(const qr_tls_t *t, int i, char *hosts, size_t hlen, char *not_after, size_t nlen,
                     int *expired);

typedef struct qr_tls_conn_s qr_tls_conn_t;

#define QR_TLS_AGAIN 1 /* a positive result: the engine needs more input from the peer */

/* One connection's TLS state. t is borrowed and must outlive the connection. Free with
 * qr_tls_conn_free (NULL is fine). */
qr_tls_conn_t *qr_tls_conn_new(qr_tls_t *t);
void qr_tls_conn_free(qr_tls_conn_t *c);

/* Hands n bytes of ciphertext received from the peer to the engine (copied). */
void qr_tls_conn_input(qr_tls_conn_t *c, const char *data, size_t n);

/* Advances the handshake with the input so far: 0 when it is complete, QR_TLS_AGAIN when more
 * input is needed, QR_EIO when it failed (an alert may be waiting in the output: send it, then
 * close). */
int qr_tls_conn_handshake(qr_tls_conn_t *c);

/* 1 once the handshake is complete. */
int qr_tls_conn_established(const qr_tls_conn_t *c);

/* Decrypts application data into buf (at most cap bytes): > 0 bytes, 0 when more input is
 * needed, QR_EIO when the peer closed (close_notify) or sent something bad: close. */
ssize_t qr_tls_conn_read(qr_tls_conn_t *c, char *buf, size_t cap);

/* Encrypts n bytes of application data into the output. 0, or QR_EIO. */
int qr_tls_conn_write(qr_tls_conn_t *c, const char *data, size_t n);

/* Queues a close_notify alert (once the handshake is complete; otherwise does nothing). */
void qr_tls_conn_close_notify(qr_tls_conn_t *c);

/* Bytes of ciphertext waiting to be sent. */
size_t qr_tls_conn_pending(const qr_tls_conn_t *c);

/* Moves the waiting ciphertext into *out (which must be empty); the caller then owns out->data
 * and frees it with free(). */
void qr_tls_conn_take_output(qr_tls_conn_t *c, qr_buf_t *out);

/* A description of the last failure (static or owned by c; valid until the next call on c). */
const char *qr_tls_conn_error(const qr_tls_conn_t *c);

#endif
