/* internal/loop — a harness for connection unit tests (test-only).
 *
 * One loop run on the test's own thread (never ed_loop_start), a real
 * listener on 127.0.0.1, real TCP clients with a TLS client engine, and a
 * fake handshake pool that holds every submitted step until the test runs
 * it (on the test thread, as a pool thread would). So each interleaving
 * is chosen by the test: bytes, FIN or RST from the client while a step
 * is in the pool, a kill or a timeout in any state, a full write queue.
 *
 * The server's log (fd 2) goes to a file for the test's life, so a test
 * can count "handshake failed" and "session closed" lines; h_finish
 * copies it back to stderr.
 *
 * Everything here aborts the test (CHECK + early return is not worth it
 * in a harness): a broken harness must not pass. Except the steps and
 * queries the tests share (the end of this file): a check in them is the
 * test's own, reported as if written in the test, which goes on. */
#ifndef ED_LOOP_CONN_HARNESS_H
#define ED_LOOP_CONN_HARNESS_H

#include <openssl/ssl.h>

#include "internal/loop/loop_internal.h"

/* Steps submitted by the loop, in order, until the test runs them. */
struct fake_pool {
  struct ed_hs_job *head, *tail;
  size_t queued;
  size_t submitted; /* every accepted submit so far */
  int full;         /* what the loop's "pool full?" question gets */
  int refuse;       /* refuse the next submit of a new handshake */
};

struct harness {
  struct ed_config cfg; /* tests may change it before h_start */
  /* Tests may set it before h_start: the listener keeps the
   * TCP_DEFER_ACCEPT internal/listen gives it, so a connection is
   * accepted only once its first bytes arrived (and read at once). Off
   * by default: cli_open waits for the accept before sending anything. */
  int defer_accept;
  struct ed_loop_shared sh;
  struct ed_loop *l;
  uint16_t port;
  struct fake_pool pool;
  struct ed_tls_snapshot *snap;
  char log_path[512];
  int saved_stderr;
  char *log; /* h_log's last read */
};

/* A client: a non-blocking TCP socket and a TLS client engine. */
struct cli {
  int fd;
  uint16_t port; /* local port: the peer= of the server's log lines */
  struct ed_tls_conn *tls;
  struct ed_buf in;    /* ciphertext received, not yet used by |tls| */
  struct ed_buf plain; /* plaintext received */
  int hs_rc;           /* last client handshake result */
  int eof, reset;      /* what recv() said last */
  int notified;        /* the server's close_notify arrived */
  int tls_failed;      /* the server sent an alert (or garbage) */
};

/* CLI_RETRY: alice, whose ClientHello draws a HelloRetryRequest (its one
 * key share is for P-521, which the server does not take). */
enum cli_cert { CLI_ALICE = 0, CLI_NO_CERT, CLI_RETRY };

/* h_init fills |h->cfg| with the server's defaults; h_start makes the
 * loop and its listener (change h->cfg in between). */
void h_init(struct harness *h);
void h_start(struct harness *h);
/* h_finish stops the loop, runs what is left in the pool, checks that
 * every connection was freed, frees everything and prints the log. */
void h_finish(struct harness *h);

/* h_snapshot builds a snapshot of the harness's credentials; with
 * |allow_cn|, only that CN is allowed in. h_publish makes |s| (taken) the
 * current one, as a reload does: what the next first step and re-check
 * use, with the published count (sh.snap_gen) moved on. */
struct ed_tls_snapshot *h_snapshot(const char *allow_cn);
void h_publish(struct harness *h, struct ed_tls_snapshot *s);

/* h_pump runs the loop until it has nothing left to do at once. */
void h_pump(struct harness *h);
/* h_pool_run runs up to |n| queued steps (oldest first), each followed by
 * h_pump; returns how many ran. */
size_t h_pool_run(struct harness *h, size_t n);
/* h_pool_take takes the oldest queued step without running it (NULL when
 * none): the test runs job->run and job->complete itself, and looks in
 * between. */
struct ed_hs_job *h_pool_take(struct harness *h);
/* h_expire runs every timeout due |after_ms| from now, then h_pump. */
void h_expire(struct harness *h, uint64_t after_ms);

/* h_num_conns: connections the loop has not freed yet. */
int64_t h_num_conns(struct harness *h);
/* h_session copies the session whose peer has local port |port| into
 * |out| (public view, as admin `sessions` sees it); 0, or -1 if none. */
int h_session(struct harness *h, uint16_t port, struct ed_session_info *out);
/* h_one_outcome checks that the connection from |c| has exactly one
 * outcome line, |msg| ("handshake failed" or "session closed"), with
 * reason |reason| (and detail |detail| unless NULL). */
void h_one_outcome(struct harness *h, struct cli *c, const char *msg,
                   const char *reason, const char *detail);
/* h_session_id returns the id of |c|'s session, 0 when it is gone. */
uint64_t h_session_id(struct harness *h, struct cli *c);
/* h_conn returns the loop's connection whose peer has local port |port|,
 * or NULL. */
struct ed_conn *h_conn(struct harness *h, uint16_t port);
/* h_state returns that session's public state, or -1 when it is gone. */
int h_state(struct harness *h, uint16_t port);
void h_stats(struct harness *h, struct ed_stats_snapshot *out);

/* h_log_count counts the log lines with msg="|msg|" for client |port|. */
int h_log_count(struct harness *h, const char *msg, uint16_t port);
/* h_log_field copies key=|key| of the first such line into |out| ("" when
 * none); returns |out|. */
const char *h_log_field(struct harness *h, const char *msg, uint16_t port,
                        const char *key, char *out, size_t out_len);

/* cli_ctx returns the client SSL_CTX for |cert| (borrowed). */
SSL_CTX *cli_ctx(enum cli_cert cert);
/* cli_ticket returns the newest session ticket any client received (a
 * new reference; NULL if none). */
SSL_SESSION *cli_ticket(void);
/* cli_open connects to the harness's listener and pumps until the loop
 * accepted the connection (not with h->defer_accept: see cli_open_hello). */
void cli_open(struct harness *h, struct cli *c, enum cli_cert cert);
/* cli_open_hello connects, sends the ClientHello at once and pumps until
 * the loop accepted the connection: what a deferred listener needs. */
void cli_open_hello(struct harness *h, struct cli *c, enum cli_cert cert);
void cli_free(struct cli *c);
/* cli_send writes raw bytes (pumping the loop while the socket is full). */
void cli_send(struct harness *h, struct cli *c, const void *data, size_t len);
/* cli_recv reads whatever arrived into c->in; sets eof/reset. */
void cli_recv(struct cli *c);
/* cli_hs_bytes runs the client's handshake on what arrived and returns
 * the bytes it wants to send in |out| (not sent). */
int cli_hs_bytes(struct cli *c, struct ed_buf *out);
/* cli_hs runs cli_hs_bytes and sends the bytes; returns the result. */
int cli_hs(struct harness *h, struct cli *c);
/* cli_seal encrypts |len| plaintext bytes into |out| (not sent). */
void cli_seal(struct cli *c, struct ed_buf *out, const void *data, size_t len);
/* cli_write encrypts and sends. */
void cli_write(struct harness *h, struct cli *c, const void *data, size_t len);
/* cli_read receives and decrypts what arrived into c->plain. */
void cli_read(struct cli *c);
/* cli_fin sends a FIN (shutdown SHUT_WR); cli_rst closes with a RST. */
void cli_fin(struct cli *c);
void cli_rst(struct cli *c);

/* establish opens a client and runs a full handshake to ESTABLISHED:
 * ClientHello, the pool step, the client's last flight, the pool step. */
void establish(struct harness *h, struct cli *c);

/* ---- steps and queries the tests share (a failed check goes on) -------- */

/* The msg= of a connection's outcome lines, and of a refusal at accept. */
#define HS_FAILED "handshake failed"
#define CLOSED "session closed"
#define REFUSED "connection refused"

/* send_hello: the client's ClientHello, sent; the loop pumped. Each of
 * these checks what the client's engine returned and that a step ran. */
void send_hello(struct harness *h, struct cli *c);
/* first_step: send_hello and the pool step that answers it. */
void first_step(struct harness *h, struct cli *c);
/* last_flight: the client's last flight, sent with |extra| sealed right
 * behind it (unless NULL); the loop pumped. */
void last_flight(struct harness *h, struct cli *c, const char *extra);
/* last_step: last_flight with nothing behind it, and the pool step that
 * verifies it. */
void last_step(struct harness *h, struct cli *c);
/* cli_open_resuming opens |c| (alice) offering the newest session ticket
 * a client received (one must have). */
void cli_open_resuming(struct harness *h, struct cli *c);
/* cli_close closes |c|'s socket: a FIN (when nothing arrived unread),
 * and nothing read after it. */
void cli_close(struct cli *c);

/* echoes writes |text|, pumps, reads, and says whether all |c| got back
 * so far is exactly |text|. */
int echoes(struct harness *h, struct cli *c, const char *text);
/* cli_read_until pumps and reads until |c| got |len| plaintext bytes (a
 * bounded number of turns: the test checks what came). */
void cli_read_until(struct harness *h, struct cli *c, size_t len);
/* h_pump_until_freed pumps until the loop freed every connection
 * (checked). */
void h_pump_until_freed(struct harness *h);
/* h_hs_errors: the loop's count of handshake errors with reason |r|. */
uint64_t h_hs_errors(struct harness *h, enum ed_hs_reason r);
/* h_field: key=|key| of |c|'s first |msg| line, as h_log_field, in a
 * buffer the next call reuses. */
const char *h_field(struct harness *h, const char *msg, struct cli *c,
                    const char *key);

/* proxy_v2 writes a PROXY v2 header (TCP over IPv4, 203.0.113.7:4242 ->
 * 10.0.0.1:7355) to |out| and returns its length (28). */
size_t proxy_v2(uint8_t *out);
/* proxy_open starts |h| with --proxy-protocol and opens alice |c|. */
void proxy_open(struct harness *h, struct cli *c);
/* proxy_hello puts that header and |c|'s ClientHello right behind it in
 * |out| (made here, the caller cleans it up; not sent); returns the
 * header's length. */
size_t proxy_hello(struct cli *c, struct ed_buf *out);

#endif /* ED_LOOP_CONN_HARNESS_H */
