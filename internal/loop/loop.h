/* internal/loop — one I/O loop: a libuv loop on its own thread, its
 * descriptors of the server's listening sockets, and the connections
 * handed to it, each an
 * explicit state machine ACCEPTED -> HANDSHAKING -> ESTABLISHED -> CLOSING
 * -> CLOSED. Handshake steps go to the handshake pool; the loop itself
 * never does public-key work and never touches a connection's SSL while a
 * step is in the pool.
 *
 * Threads: ed_loop_new/add_listener/start/join/free are called by the
 * owner (the server's control thread). ed_loop_post_* and the read-side
 * functions (ed_loop_stats, ed_loop_sessions, ed_loop_num_conns) may be
 * called from any thread while the loop runs: commands are posted to the
 * loop (mutex + the loop's eventfd), the registry is read under a short
 * per-loop mutex, counters are read relaxed. */
#ifndef ED_LOOP_H
#define ED_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/config/config.h"
#include "internal/handshake/handshake.h"
#include "internal/loop/loop_types.h"
#include "internal/stats/stats.h"
#include "internal/tls/tls.h"

/* A copy of one session's public state. Strings are NUL-terminated and
 * truncated to fit; empty when unknown (e.g. cn before the handshake). */
struct ed_session_info {
  uint64_t id; /* unique in this process, from 1 */
  enum ed_session_state state;
  char peer[64];     /* "127.0.0.1:50312", "[::1]:50312"; with
                      * --proxy-protocol, the address the header carried */
  char via[64];      /* the balancer's address when |peer| came from a
                      * PROXY header; else empty */
  char cn[128];      /* client certificate subject CN */
  char sans[512];    /* "DNS:a,URI:spiffe://x,email:e@x,IP:1.2.3.4" */
  char serial[72];   /* uppercase hex */
  char version[16];  /* "TLSv1.3" */
  char cipher[64];   /* "TLS_AES_128_GCM_SHA256" */
  int resumed;       /* 1 if resumed from a ticket */
  uint64_t start_ns; /* wall clock at accept, ns since the epoch */
  uint64_t bytes_in; /* plaintext received */
  uint64_t bytes_out;
  uint32_t worker; /* index of the owning I/O loop */
};

/* What every loop shares, owned by the server; it outlives the loops. */
struct ed_loop_shared {
  const struct ed_config *cfg;
  struct ed_hs_pool *pool;
  /* Returns the current credential snapshot with a new reference. */
  struct ed_tls_snapshot *(*snapshot_get)(void *arg);
  void *snapshot_arg;
  _Atomic uint64_t next_id;  /* session ids */
  _Atomic int64_t num_conns; /* all loops, for max_connections */
  /* Accepting: the loop that accepts a connection hands it to the next
   * one, round-robin. |loops| lists every loop by index (the owner's
   * array, filled before any loop starts), or is NULL: each loop keeps
   * what it accepts. */
  struct ed_loop **loops;
  uint32_t num_loops;
  _Atomic uint32_t next_loop;
};

struct ed_loop;

/* ed_loop_new creates loop |index| (not yet running). Returns NULL on
 * failure. */
struct ed_loop *ed_loop_new(uint32_t index, struct ed_loop_shared *shared);

/* ed_loop_add_listener makes the loop accept on |fd| (takes ownership,
 * on failure too): a listening TCP socket, usually this loop's own
 * descriptor of one every loop polls (internal/listen). Whichever loop
 * accepts a connection hands it to the next loop in turn, so connections
 * split evenly across loops. Call before ed_loop_start. Returns 0 or a
 * negative ED_E_* code. */
int ed_loop_add_listener(struct ed_loop *l, int fd);

/* ed_loop_start runs the loop on a new thread. Returns 0 or ED_E_SYS. */
int ed_loop_start(struct ed_loop *l);

/* ed_loop_post_kill closes session |id| if this loop owns it (killed). */
void ed_loop_post_kill(struct ed_loop *l, uint64_t id);
/* ed_loop_post_kill_cn closes every established session with CN |cn|. */
void ed_loop_post_kill_cn(struct ed_loop *l, const char *cn);
/* ed_loop_post_drain stops accepting (listeners closed) and closes every
 * session: close_notify for established ones (reason drain). */
void ed_loop_post_drain(struct ed_loop *l);
/* ed_loop_post_stop closes whatever is left at once; the thread ends once
 * every connection is freed (also those with a step in the pool). */
void ed_loop_post_stop(struct ed_loop *l);

/* ed_loop_exited returns 1 once the loop thread has finished. */
int ed_loop_exited(struct ed_loop *l);
/* ed_loop_join waits for the thread (after ed_loop_post_stop). */
void ed_loop_join(struct ed_loop *l);
/* ed_loop_free frees a joined (or never started) loop; NULL is fine. */
void ed_loop_free(struct ed_loop *l);

/* ed_loop_num_conns returns this loop's connections not yet freed. */
int64_t ed_loop_num_conns(struct ed_loop *l);

/* ed_loop_stats adds this loop's counters into |out|. */
void ed_loop_stats(struct ed_loop *l, struct ed_stats_snapshot *out);

/* ed_loop_sessions calls |fn| with a copy of each session's state, under
 * the loop's registry lock (keep |fn| short; it must not call back into
 * the loop). Stops early when |fn| returns nonzero. */
void ed_loop_sessions(struct ed_loop *l,
                      int (*fn)(void *arg, const struct ed_session_info *s),
                      void *arg);

#endif /* ED_LOOP_H */
