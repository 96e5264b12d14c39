/* mbedTLS behind in-memory buffers: certificates and SNI per worker, one engine per connection. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef QUIRE_TLS
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_MAJOR != 2
#error "core/tls.c is written against the mbedTLS 2.x API (Debian 12 ships 2.28)"
#endif

typedef struct {
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  char **hosts; /* lower-case names this certificate is chosen for */
  int nhosts;
} cert;

struct qr_tls_s {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  mbedtls_ssl_ticket_context tickets;
  cert *certs;
  int ncerts;
};

struct qr_tls_conn_s {
  mbedtls_ssl_context ssl;
  qr_buf_t in; /* ciphertext received, not yet consumed from in_off on */
  size_t in_off;
  qr_buf_t out; /* ciphertext to send */
  int established;
  char err[160];
};

/* Forward secrecy and AEAD only (Mozilla's "intermediate" TLS 1.2 list without DHE): the server's
 * order wins, AES-GCM first for CPUs with AES-NI, ChaCha20-Poly1305 for those without. */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0};
static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                              MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};
static const int sig_hashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512, MBEDTLS_MD_NONE};

int qr_tls_available(void) { return 1; }

static void mbed_error(char *err, size_t errlen, const char *what, const char *path, int rc) {
  char text[128];
  mbedtls_strerror(rc, text, sizeof text);
  snprintf(err, errlen, "%s %s: %s", what, path, text);
}

static void add_host(cert *c, const char *name, size_t len) {
  if (len == 0 || len > 253) return;
  char *h = qr_xmalloc(len + 1);
  for (size_t i = 0; i < len; i++) h[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
  h[len] = '\0';
  c->hosts = qr_xrealloc(c->hosts, sizeof(char *) * (size_t)(c->nhosts + 1));
  c->hosts[c->nhosts++] = h;
}

/* The DNS names of the certificate (subjectAltName), else its common name. */
static void hosts_from_cert(cert *c) {
  for (const mbedtls_x509_sequence *s = &c->crt.subject_alt_names; s && s->buf.p; s = s->next)
    if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME))
      add_host(c, (const char *)s->buf.p, s->buf.len);
  if (c->nhosts) return;
  for (const mbedtls_x509_name *n = &c->crt.subject; n && n->oid.p; n = n->next)
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) add_host(c, (const char *)n->val.p, n->val.len);
}

/* name (len bytes, any case) against a lower-case pattern; "*.example.org" covers one label. */
static int host_matches(const char *pattern, const unsigned char *name, size_t len) {
  size_t plen = strlen(pattern);
  if (pattern[0] == '*' && pattern[1] == '.') {
    const unsigned char *dot = memchr(name, '.', len);
    if (!dot || dot == name) return 0;
    size_t rest = len - (size_t)(dot - name);
    return rest == plen - 1 && strncasecmp((const char *)dot, pattern + 1, rest) == 0;
  }
  return plen == len && strncasecmp((const char *)name, pattern, len) == 0;
}

/* SNI: every certificate that names the host is offered (so an ECDSA and an RSA certificate for
 * one name both work); an unknown name gets the default certificate rather than an alert. */
static int on_sni(void *p, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len) {
  qr_tls_t *t = p;
  for (int i = 0; i < t->ncerts; i++)
    for (int j = 0; j < t->certs[i].nhosts; j++)
      if (host_matches(t->certs[i].hosts[j], name, len)) {
        if (mbedtls_ssl_set_hs_own_cert(ssl, &t->certs[i].crt, &t->certs[i].key) != 0) return -1;
        break;
      }
  return 0;
}

int qr_tls_new(qr_tls_t **out, const qr_tls_cert_t *certs, int ncerts, char *err, size_t errlen) {
  *out = NULL;
  if (ncerts < 1) {
    snprintf(err, errlen, "TLS needs at least one certificate");
    return QR_EINVAL;
  }
  qr_tls_t *t = qr_xcalloc(1, sizeof *t);
  mbedtls_entropy_init(&t->entropy);
  mbedtls_ctr_drbg_init(&t->drbg);
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_ssl_ticket_init(&t->tickets);
  t->certs = qr_xcalloc((size_t)ncerts, sizeof(cert));
  for (int i = 0; i < ncerts; i++) {
    cert *c = &t->certs[i];
    mbedtls_x509_crt_init(&c->crt);
    mbedtls_pk_init(&c->key);
    t->ncerts++;
    int rc = mbedtls_x509_crt_parse_file(&c->crt, certs[i].cert);
    if (rc != 0) {
      mbed_error(err, errlen, "cannot read the certificate", certs[i].cert, rc);
      goto fail;
    }
    rc = mbedtls_pk_parse_keyfile(&c->key, certs[i].key, NULL);
    if (rc != 0) {
      mbed_error(err, errlen, "cannot read the private key", certs[i].key, rc);
      goto fail;
    }
    if (mbedtls_pk_check_pair(&c->crt.pk, &c->key) != 0) {
      snprintf(err, errlen, "the private key %s does not belong to the certificate %s", certs[i].key, certs[i].cert);
      goto fail;
    }
    if (certs[i].hosts)
      for (const char *const *h = certs[i].hosts; *h; h++) add_host(c, *h, strlen(*h));
    else
      hosts_from_cert(c);
  }
  static const char pers[] = "quire tls";
  int rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, (const unsigned char *)pers, sizeof pers - 1);
  if (rc == 0)
    rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc != 0) {
    mbed_error(err, errlen, "cannot set up", "TLS", rc);
    goto fail;
  }
  mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
  /* The maximum stays the library's: TLS 1.2 in mbedTLS 2.28, whose TLS 1.3 is a client-only
   * experiment. */
  mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
  mbedtls_ssl_conf_curves(&t->conf, curves);
  mbedtls_ssl_conf_sig_hashes(&t->conf, sig_hashes);
  mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
  mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
  rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->certs[0].crt, &t->certs[0].key);
  if (rc != 0) {
    mbed_error(err, errlen, "cannot use the certificate", certs[0].cert, rc);
    goto fail;
  }
  mbedtls_ssl_conf_sni(&t->conf, on_sni, t);
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_TICKET_C)
  /* Ticket keys live in this process: a client that resumes on another worker gets a full
   * handshake, which is correct, only slower. */
  if (mbedtls_ssl_ticket_setup(&t->tickets, mbedtls_ctr_drbg_random, &t->drbg, MBEDTLS_CIPHER_AES_256_GCM, 86400) == 0)
    mbedtls_ssl_conf_session_tickets_cb(&t->conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &t->tickets);
#endif
  *out = t;
  return 0;
fail:
  qr_tls_free(t);
  return QR_EIO;
}

void qr_tls_free(qr_tls_t *t) {
  if (!t) return;
  for (int i = 0; i < t->ncerts; i++) {
    mbedtls_x509_crt_free(&t->certs[i].crt);
    mbedtls_pk_free(&t->certs[i].key);
    for (int j = 0; j < t->certs[i].nhosts; j++) free(t->certs[i].hosts[j]);
    free(t->certs[i].hosts);
  }
  free(t->certs);
  mbedtls_ssl_ticket_free(&t->tickets);
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_ctr_drbg_free(&t->drbg);
  mbedtls_entropy_free(&t->entropy);
  free(t);
}

int qr_tls_cert_info(const qr_tls_t *t, int i, char *hosts, size_t hlen, char *not_after, size_t nlen,
                     int *expired) {
  if (i < 0 || i >= t->ncerts) return QR_EINVAL;
  const cert *c = &t->certs[i];
  if (hlen) hosts[0] = '\0';
  for (int j = 0; j < c->nhosts; j++) {
    size_t used = strlen(hosts);
    snprintf(hosts + used, hlen - used, "%s%s", j ? ", " : "", c->hosts[j]);
  }
  const mbedtls_x509_time *to = &c->crt.valid_to;
  snprintf(not_after, nlen, "%04d-%02d-%02d %02d:%02d:%02d UTC", to->year, to->mon, to->day, to->hour, to->min, to->sec);
  *expired = mbedtls_x509_time_is_past(to);
  return 0;
}

/* --- one connection */

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
  qr_tls_conn_t *c = ctx;
  qr_buf_append(&c->out, (const char *)buf, len);
  return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
  qr_tls_conn_t *c = ctx;
  size_t avail = c->in.len - c->in_off;
  if (avail == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  size_t n = avail < len ? avail : len;
  memcpy(buf, c->in.data + c->in_off, n);
  c->in_off += n;
  if (c->in_off == c->in.len) c->in.len = c->in_off = 0;
  return (int)n;
}

qr_tls_conn_t *qr_tls_conn_new(qr_tls_t *t) {
  qr_tls_conn_t *c = qr_xcalloc(1, sizeof *c);
  mbedtls_ssl_init(&c->ssl);
  if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0) abort(); /* only fails when out of memory */
  mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
  return c;
}

void qr_tls_conn_free(qr_tls_conn_t *c) {
  if (!c) return;
  mbedtls_ssl_free(&c->ssl);
  qr_buf_free(&c->in);
  qr_buf_free(&c->out);
  free(c);
}

void qr_tls_conn_input(qr_tls_conn_t *c, const char *data, size_t n) {
  if (c->in_off) {
    memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
    c->in.len -= c->in_off;
    c->in_off = 0;
  }
  qr_buf_append(&c->in, data, n);
}

static int failed(qr_tls_conn_t *c, const char *what, int rc) {
  char text[120];
  mbedtls_strerror(rc, text, sizeof text);
  snprintf(c->err, sizeof c->err, "%s: %s", what, text);
  return QR_EIO;
}

int qr_tls_conn_handshake(qr_tls_conn_t *c) {
  if (c->established) return 0;
  int rc = mbedtls_ssl_handshake(&c->ssl);
  if (rc == 0) {
    c->established = 1;
    return 0;
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return QR_TLS_AGAIN;
  return failed(c, "TLS handshake", rc);
}

int qr_tls_conn_established(const qr_tls_conn_t *c) { return c->established; }

ssize_t qr_tls_conn_read(qr_tls_conn_t *c, char *buf, size_t cap) {
  int rc = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, cap);
  if (rc > 0) return rc;
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == 0) {
    snprintf(c->err, sizeof c->err, "the client closed the TLS session");
    return QR_EIO;
  }
  return failed(c, "TLS read", rc);
}

int qr_tls_conn_write(qr_tls_conn_t *c, const char *data, size_t n) {
  while (n > 0) {
    int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, n);
    if (rc < 0) return failed(c, "TLS write", rc); /* WANT_WRITE cannot happen: bio_send takes all */
    data += rc;
    n -= (size_t)rc;
  }
  return 0;
}

void qr_tls_conn_close_notify(qr_tls_conn_t *c) {
  if (c->established) mbedtls_ssl_close_notify(&c->ssl);
}

size_t qr_tls_conn_pending(const qr_tls_conn_t *c) { return c->out.len; }

void qr_tls_conn_take_output(qr_tls_conn_t *c, qr_buf_t *out) {
  *out = c->out;
  memset(&c->out, 0, sizeof c->out);
}

const char *qr_tls_conn_error(const qr_tls_conn_t *c) { return c->err[0] ? c->err : "no error"; }

#else /* !QUIRE_TLS: the same interface, and a clear message for whoever configures TLS */

int qr_tls_available(void) { return 0; }

int qr_tls_new(qr_tls_t **out, const qr_tls_cert_t *certs, int ncerts, char *err, size_t errlen) {
  (void)certs;
  (void)ncerts;
  *out = NULL;
  snprintf(err, errlen, "this quire was built without TLS (rebuild with cmake -DQUIRE_TLS=ON)");
  return QR_EINVAL;
}
void qr_tls_free(qr_tls_t *t) { (void)t; }
int qr_tls_cert_info(const qr_tls_t *t, int i, char *hosts, size_t hlen, char *not_after, size_t nlen,
                     int *expired) {
  (void)t, (void)i, (void)hosts, (void)hlen, (void)not_after, (void)nlen, (void)expired;
  return QR_EINVAL;
}
qr_tls_conn_t *qr_tls_conn_new(qr_tls_t *t) {
  (void)t;
  return NULL;
}
void qr_tls_conn_free(qr_tls_conn_t *c) { (void)c; }
void qr_tls_conn_input(qr_tls_conn_t *c, const char *data, size_t n) { (void)c, (void)data, (void)n; }
int qr_tls_conn_handshake(qr_tls_conn_t *c) {
  (void)c;
  return QR_EIO;
}
int qr_tls_conn_established(const qr_tls_conn_t *c) {
  (void)c;
  return 0;
}
ssize_t qr_tls_conn_read(qr_tls_conn_t *c, char *buf, size_t cap) {
  (void)c, (void)buf, (void)cap;
  return QR_EIO;
}
int qr_tls_conn_write(qr_tls_conn_t *c, const char *data, size_t n) {
  (void)c, (void)data, (void)n;
  return QR_EIO;
}
void qr_tls_conn_close_notify(qr_tls_conn_t *c) { (void)c; }
size_t qr_tls_conn_pending(const qr_tls_conn_t *c) {
  (void)c;
  return 0;
}
void qr_tls_conn_take_output(qr_tls_conn_t *c, qr_buf_t *out) {
  (void)c;
  memset(out, 0, sizeof *out);
}
const char *qr_tls_conn_error(const qr_tls_conn_t *c) {
  (void)c;
  return "built without TLS";
}

#endif
