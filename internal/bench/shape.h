/* internal/bench — the message pattern of a TLS session, as plain TCP.
 *
 * A shape is what one side of a TLS 1.3 session writes and the other
 * answers, step by step, with the crypto taken away: "244:792,575:0+,
 * 54:392,24:24" is echod's full mutual-TLS session (ClientHello and the
 * server's flight; the client's flight, answered by nothing yet; the
 * 32-byte echo's record, answered by the ticket and the echo; close_notify
 * both ways). Step i: the client writes C_i bytes;
 * once the server has read them all (and every step's before), it answers
 * S_i bytes. The client waits for that answer before the next step unless
 * S_i carries '+' (a TLS client sends its data right after its Finished,
 * without waiting for an answer). After the last step the server closes
 * and so does the client.
 *
 * echo-bench handshake --plain --shape and plain_echo --shape run it, so
 * the kernel's cost of TLS's message pattern (more segments, reads and
 * writes than a connect/echo/close) is measured apart from the TLS work
 * (tools/bench/run's split, docs/BENCHMARKS.md). tools/bench:tls_floor
 * --flights prints the shapes of echod's sessions. No dependencies: the
 * plain server links this alone. */
#ifndef ED_BENCH_SHAPE_H
#define ED_BENCH_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#define ED_SHAPE_MAX_STEPS 8
#define ED_SHAPE_MAX_BYTES 65536 /* each side's total */

struct ed_shape {
  int n;
  struct {
    uint32_t c, s;  /* bytes the client writes; the server answers */
    int nowait;     /* the client goes on without the answer */
    uint64_t c_end; /* client bytes up to and including this step */
    uint64_t s_end; /* server bytes up to and including this step */
  } step[ED_SHAPE_MAX_STEPS];
  uint64_t c_total, s_total;
};

/* ed_shape_parse reads |spec| ("C:S[+],..." as above) into |out|. Every
 * C is at least 1 (the server answers what it reads), the last step waits
 * for its answer, each side's total is at most ED_SHAPE_MAX_BYTES. Returns
 * 0, or -1 with a one-line reason in |err|. */
int ed_shape_parse(struct ed_shape *out, const char *spec, char *err,
                   size_t err_len);

#endif
