/* floor: the cost of the cryptographic primitives one mutual-TLS echo
 * session needs, timed with the BoringSSL this project builds. It gives
 * the floor a server cannot go below on this machine:
 *
 *   full handshake (server side, public-key work only) =
 *       1 X25519 keygen + 1 X25519 shared secret
 *     + 1 ECDSA P-256 sign    (server CertificateVerify)
 *     + 2 ECDSA P-256 verify  (CA's signature on the client certificate,
 *                              client CertificateVerify)
 *   resumed handshake (psk_dhe_ke) = 1 X25519 keygen + 1 shared secret
 *   echo, per byte = 1 AES-128-GCM open + 1 AES-128-GCM seal
 *   a 64-byte echo message = 1 open + 1 seal of one TLS 1.3 record with 64
 *       bytes of data (EVP_aead_aes_128_gcm_tls13, the record header as
 *       additional data, the content-type byte): what the crypto adds to
 *       the kernel's 64-byte echo (the 16 KiB figures above differ from
 *       the TLS 1.3 record shape by under 2 %; a 64-byte record's cost is
 *       the AEAD's fixed cost per call, half of it or more)
 *
 * tools/bench/run adds the kernel's share, measured in the same rounds
 * against tools/bench:plain_echo, to make the floors of issue 15: a full
 * handshake's is the plain connect/echo/close cycle plus the above; bulk
 * echo's is 1 / (1 / kernel bulk rate + 1 / the open+seal rate).
 *
 * Each primitive runs for --ms milliseconds, --runs times; the median is
 * reported; time is the thread's CPU time, so other load on the machine
 * does not inflate it. Run it pinned to one core (taskset -c 0).
 *
 * Usage: floor [--runs N] [--ms MS] [--json] */
#include <openssl/aead.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORD 16384
#define SMALL 64 /* the echo scenario's message */
#define MAX_RUNS 51

/* now_s is this thread's CPU time: on a shared machine, time spent
 * waiting for the core is not charged to the primitive. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
  EC_KEY *ec;
  uint8_t digest[32];
  uint8_t sig[80];
  size_t sig_len;
  EVP_AEAD_CTX aead;
  uint8_t *plain, *sealed;
  size_t sealed_len;
  uint8_t nonce[12];
  uint8_t peer_pub[32];
  /* One TLS 1.3 record of SMALL data bytes (+ its content type). */
  EVP_AEAD_CTX aead13;
  uint8_t small[SMALL + 1], small_sealed[SMALL + 1 + 16], small_out[SMALL + 17];
  size_t small_sealed_len;
  uint64_t seq13;
};

/* TLS 1.3's record header, the additional data of a SMALL-byte record. */
static const uint8_t small_ad[5] = {23, 3, 3, 0, SMALL + 1 + 16};

/* nonce13 is the nonce of record |seq| (the AEAD XORs in its own mask). */
static void nonce13(uint8_t out[12], uint64_t seq) {
  memset(out, 0, 12);
  for (int i = 0; i < 8; i++) out[11 - i] = (uint8_t)(seq >> (8 * i));
}

static int op_x25519(struct bench *b) {
  uint8_t pub[32], priv[32], shared[32];
  X25519_keypair(pub, priv);
  return X25519(shared, priv, b->peer_pub);
}

static int op_sign(struct bench *b) {
  unsigned sig_len;
  uint8_t sig[80];
  return ECDSA_sign(0, b->digest, 32, sig, &sig_len, b->ec);
}

static int op_verify(struct bench *b) {
  return ECDSA_verify(0, b->digest, 32, b->sig, b->sig_len, b->ec);
}

static int op_seal(struct bench *b) {
  size_t out_len;
  b->nonce[0]++;
  return EVP_AEAD_CTX_seal(&b->aead, b->sealed, &out_len, RECORD + 16, b->nonce,
                           12, b->plain, RECORD, NULL, 0);
}

static int op_open(struct bench *b) {
  size_t out_len;
  return EVP_AEAD_CTX_open(&b->aead, b->plain, &out_len, RECORD, b->nonce, 12,
                           b->sealed, b->sealed_len, NULL, 0);
}

/* Sealing needs increasing sequence numbers (the TLS 1.3 AEAD checks);
 * opening reopens record 0. */
static int op_seal_small(struct bench *b) {
  size_t out_len;
  uint8_t nonce[12];
  nonce13(nonce, ++b->seq13);
  return EVP_AEAD_CTX_seal(&b->aead13, b->small_out, &out_len,
                           sizeof(b->small_out), nonce, 12, b->small,
                           sizeof(b->small), small_ad, sizeof(small_ad));
}

static int op_open_small(struct bench *b) {
  size_t out_len;
  uint8_t nonce[12];
  nonce13(nonce, 0);
  return EVP_AEAD_CTX_open(&b->aead13, b->small, &out_len, sizeof(b->small),
                           nonce, 12, b->small_sealed, b->small_sealed_len,
                           small_ad, sizeof(small_ad));
}

/* time_op returns microseconds per call of |op| over about |ms| ms. The
 * clock is read once per batch, and a batch doubles until it lasts a
 * millisecond: a read of the thread CPU clock costs ~1 us on these VMs,
 * which read every 16 calls added half again to a 64-byte record's open +
 * seal. */
static double time_op(int (*op)(struct bench *), struct bench *b, int ms) {
  double start = now_s(), end = start + ms / 1000.0, t = start;
  long n = 0, batch = 16;
  do {
    for (long i = 0; i < batch; i++) {
      if (!op(b)) {
        fprintf(stderr, "floor: operation failed\n");
        exit(1);
      }
    }
    n += batch;
    double prev = t;
    t = now_s();
    if (t - prev < 1e-3 && batch < (1L << 20)) batch *= 2;
  } while (t < end);
  return (t - start) * 1e6 / (double)n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median_op(int (*op)(struct bench *), struct bench *b, int runs,
                        int ms) {
  double v[MAX_RUNS];
  for (int i = 0; i < runs; i++) v[i] = time_op(op, b, ms);
  qsort(v, (size_t)runs, sizeof(double), cmp_double);
  return v[runs / 2];
}

static void setup(struct bench *b) {
  memset(b, 0, sizeof(*b));
  b->ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  if (!b->ec || !EC_KEY_generate_key(b->ec)) exit(1);
  RAND_bytes(b->digest, sizeof(b->digest));
  uint8_t peer_priv[32];
  X25519_keypair(b->peer_pub, peer_priv);
  unsigned sig_len;
  if (!ECDSA_sign(0, b->digest, 32, b->sig, &sig_len, b->ec)) exit(1);
  b->sig_len = sig_len;
  uint8_t key[16];
  RAND_bytes(key, sizeof(key));
  if (!EVP_AEAD_CTX_init(&b->aead, EVP_aead_aes_128_gcm(), key, 16, 16, NULL))
    exit(1);
  b->plain = calloc(1, RECORD);
  b->sealed = calloc(1, RECORD + 16);
  RAND_bytes(b->plain, RECORD);
  if (!EVP_AEAD_CTX_seal(&b->aead, b->sealed, &b->sealed_len, RECORD + 16,
                         b->nonce, 12, b->plain, RECORD, NULL, 0))
    exit(1);
  uint8_t nonce[12];
  nonce13(nonce, 0);
  RAND_bytes(b->small, SMALL);
  b->small[SMALL] = 23; /* application_data */
  if (!EVP_AEAD_CTX_init(&b->aead13, EVP_aead_aes_128_gcm_tls13(), key, 16, 16,
                         NULL) ||
      !EVP_AEAD_CTX_seal(&b->aead13, b->small_sealed, &b->small_sealed_len,
                         sizeof(b->small_sealed), nonce, 12, b->small,
                         sizeof(b->small), small_ad, sizeof(small_ad)))
    exit(1);
}

struct floor {
  double x25519_us, sign_us, verify_us, seal_us, open_us;
  double seal_small_us, open_small_us;
};

static void print_human(const struct floor *f, int runs, int ms) {
  double full = f->x25519_us + f->sign_us + 2 * f->verify_us;
  double seal_gbs = RECORD / f->seal_us / 1e3,
         open_gbs = RECORD / f->open_us / 1e3;
  double echo_gbs = RECORD / (f->seal_us + f->open_us) / 1e3;
  printf("BoringSSL primitives, one core, median of %d runs of %d ms\n", runs,
         ms);
  printf("  X25519 keygen + shared       %8.1f us\n", f->x25519_us);
  printf("  ECDSA P-256 sign             %8.1f us\n", f->sign_us);
  printf("  ECDSA P-256 verify           %8.1f us\n", f->verify_us);
  printf("  AES-128-GCM seal, 16 KiB     %8.2f GB/s (%.2f us per record)\n",
         seal_gbs, f->seal_us);
  printf("  AES-128-GCM open, 16 KiB     %8.2f GB/s (%.2f us per record)\n",
         open_gbs, f->open_us);
  printf("  TLS 1.3 record, 64 B: seal   %8.3f us, open %.3f us\n",
         f->seal_small_us, f->open_small_us);
  printf("Floors (server side)\n");
  printf(
      "  full mTLS handshake          %8.1f us  = X25519 keygen+shared\n"
      "                                           + 1 ECDSA sign + 2 "
      "ECDSA verify\n",
      full);
  printf("  resumed handshake            %8.1f us  = X25519 keygen+shared\n",
         f->x25519_us);
  printf("  echo (open + seal per byte)  %8.2f GB/s = %.0f bytes/s\n", echo_gbs,
         echo_gbs * 1e9);
  printf(
      "  64 B echo message, crypto    %8.3f us  = open + seal, 64 B "
      "TLS 1.3 record\n",
      f->seal_small_us + f->open_small_us);
}

static void print_json(const struct floor *f, int runs, int ms) {
  printf(
      "{\"runs\":%d,\"ms\":%d,\"x25519_us\":%.2f,\"ecdsa_p256_sign_us\":%.2f,"
      "\"ecdsa_p256_verify_us\":%.2f,\"aes128gcm_seal_gbs\":%.3f,"
      "\"aes128gcm_open_gbs\":%.3f,\"full_handshake_floor_us\":%.2f,"
      "\"resumed_handshake_floor_us\":%.2f,\"echo_floor_gbs\":%.3f,"
      "\"aes128gcm_open_seal_bytes_per_s\":%.0f,"
      "\"echo64_crypto_us\":%.3f}\n",
      runs, ms, f->x25519_us, f->sign_us, f->verify_us,
      RECORD / f->seal_us / 1e3, RECORD / f->open_us / 1e3,
      f->x25519_us + f->sign_us + 2 * f->verify_us, f->x25519_us,
      RECORD / (f->seal_us + f->open_us) / 1e3,
      RECORD / (f->seal_us + f->open_us) * 1e6,
      f->seal_small_us + f->open_small_us);
}

int main(int argc, char **argv) {
  int runs = 5, ms = 200, json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
      ms = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else {
      fprintf(stderr, "usage: floor [--runs N] [--ms MS] [--json]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS || ms < 1) {
    fprintf(stderr, "floor: --runs 1..%d, --ms >= 1\n", MAX_RUNS);
    return 2;
  }
  struct bench b;
  setup(&b);
  struct floor f;
  f.x25519_us = median_op(op_x25519, &b, runs, ms);
  f.sign_us = median_op(op_sign, &b, runs, ms);
  f.verify_us = median_op(op_verify, &b, runs, ms);
  f.seal_us = median_op(op_seal, &b, runs, ms);
  f.open_us = median_op(op_open, &b, runs, ms);
  f.seal_small_us = median_op(op_seal_small, &b, runs, ms);
  f.open_small_us = median_op(op_open_small, &b, runs, ms);
  if (json) {
    print_json(&f, runs, ms);
  } else {
    print_human(&f, runs, ms);
  }
  EVP_AEAD_CTX_cleanup(&b.aead);
  EVP_AEAD_CTX_cleanup(&b.aead13);
  EC_KEY_free(b.ec);
  free(b.plain);
  free(b.sealed);
  return 0;
}
