/* Helpers for pki's unit tests (testonly): temporary directories, a
 * snapshot of a directory to prove a failed command changed nothing, and
 * an independent chain check with BoringSSL's verifier. */
#ifndef ED_PKI_TEST_UTIL_H
#define ED_PKI_TEST_UTIL_H

#include <openssl/x509.h>

/* pkit_tmpdir creates a fresh directory under $TEST_TMPDIR (or /tmp) and
 * returns its path (caller frees). Aborts on failure. */
char *pkit_tmpdir(const char *tag);

/* pkit_path returns DIR/FILE in a static ring of buffers (8 deep). */
const char *pkit_path(const char *dir, const char *file);

/* pkit_snapshot returns a description of every file under |dir| (name,
 * mode, size, SHA-256 of the contents), sorted; caller frees. */
char *pkit_snapshot(const char *dir);

/* pkit_read returns the contents of |path| (NUL-terminated; caller frees)
 * or NULL. */
char *pkit_read(const char *path, size_t *out_len);

/* pkit_load_cert / pkit_load_crl read the first PEM object, or NULL. */
X509 *pkit_load_cert(const char *path);
X509_CRL *pkit_load_crl(const char *path);

/* pkit_verify checks |leaf_path| against the CA certificate |ca_path| for
 * X509_PURPOSE_* |purpose| (0: any), with CRL checking when |crl_path| is
 * not NULL. Returns 0 if it verifies, else the X509_V_ERR_* code (-1 if a
 * file does not load). */
int pkit_verify(const char *ca_path, const char *leaf_path,
                const char *crl_path, int purpose);

/* pkit_mode returns the permission bits of |path|, or -1. */
int pkit_mode(const char *path);

/* pkit_contains returns 1 if |s| contains |sub|. */
int pkit_contains(const char *s, const char *sub);

#endif /* ED_PKI_TEST_UTIL_H */
