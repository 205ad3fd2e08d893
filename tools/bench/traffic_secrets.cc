// The server's TLS 1.3 traffic secrets for tls_floor --records, through
// BoringSSL's C++-only bssl::SSL_get_traffic_secrets (ssl.h): what an own
// record layer in echod's C would need a shim like this for.
#include <openssl/ssl.h>
#include <string.h>

extern "C" int tls_floor_traffic_secrets(const SSL *ssl, uint8_t *read,
                                         size_t *read_len, uint8_t *write,
                                         size_t *write_len, size_t cap) {
  bssl::Span<const uint8_t> r, w;
  if (!bssl::SSL_get_traffic_secrets(ssl, &r, &w) || r.size() > cap ||
      w.size() > cap) {
    return 0;
  }
  memcpy(read, r.data(), r.size());
  memcpy(write, w.data(), w.size());
  *read_len = r.size();
  *write_len = w.size();
  return 1;
}
