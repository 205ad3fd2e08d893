/* internal/net — what net.c (connections) and listen.c (listeners) share.
 * Not for use outside internal/net. */
#ifndef ED_NET_INTERNAL_H
#define ED_NET_INTERNAL_H

#include <sys/types.h>

#include "internal/base/base.h"
#include "internal/net/net.h"

#define ED_NET__READ_CHUNK (16 * 1024)
/* At most one "net connection refused" line per server this often. */
#define ED_NET__REFUSAL_LOG_MS 10000

/* A connection's life: OPEN -> FLUSHING -> LINGER -> CLOSING, or straight
 * to CLOSING from any of them. One function moves each step. */
enum ed_net__state {
  ED_NET__OPEN,     /* reading requests and answering them */
  ED_NET__FLUSHING, /* no more requests; shut down once replies are out */
  ED_NET__LINGER,   /* write side shut; reading and dropping input */
  ED_NET__CLOSING,  /* uv_close called; freed in the close callback */
};

/* What a connection counts against. */
enum ed_net__slot {
  ED_NET__SLOT_NONE = 0,
  ED_NET__SLOT_GENERAL,  /* one of max_conns */
  ED_NET__SLOT_RESERVED, /* one of reserved */
  ED_NET__SLOT_SPARE,    /* refused or lingering: no request is served */
};

struct ed_net_conn {
  struct ed_net_server *srv;
  struct ed_net_conn *prev, *next; /* every connection until freed */
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io;
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  struct sockaddr_storage peer; /* TCP only */
  char peer_name[ED_NET_ADDR_MAX];
  uint64_t id;
  uint64_t born_ms;     /* uv_now at accept */
  uint64_t progress_ms; /* accept, last request handled, last write done */
  struct ed_buf in;     /* received, not yet consumed */
  size_t queued;        /* bytes in writes not yet completed */
  uint32_t requests;    /* requests on_input has consumed */
  enum ed_net__state state;
  enum ed_net__slot slot;
  int handles;       /* io + timer until their close callbacks ran */
  int held;          /* a request is being answered asynchronously */
  int eof;           /* the client shut down its side */
  int blocked;       /* write queue over out_max: no requests, no reads */
  int reading;       /* uv_read_start in effect */
  int driving;       /* inside drive(): no recursion */
  int shutting_down; /* uv_shutdown issued */
  void *data;        /* the handler's */
};

struct ed_net_server {
  uv_loop_t *loop;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } listener;
  int is_unix;
  char *path; /* Unix: the socket file we made, and its identity */
  dev_t dev;
  ino_t ino;
  struct sockaddr_storage bound; /* TCP */
  struct ed_net_limits lim;
  struct ed_net_handler h;
  struct ed_net_conn *conns;
  uint32_t num[4]; /* connections per enum ed_net__slot */
  uint64_t next_id;
  int stopping;
  int listener_closed; /* handed over, or stopping */
  int handed_over;     /* a Unix socket file is no longer ours */
  int handles;         /* listener + connections not yet freed */
  struct ed_net_server_stats st;
  char what[48];              /* names the listener in log lines */
  int refusal_logged;         /* a refusal line was written ... */
  uint64_t refusal_log_ms;    /* ... at this uv_now */
  uint64_t refusals_unlogged; /* refusals since, not logged */
  char scratch[ED_NET__READ_CHUNK];
};

/* ed_net__server_new allocates a server with the options' limits and
 * handler (defaults filled); no handle is open yet. */
struct ed_net_server *ed_net__server_new(uv_loop_t *loop,
                                         const struct ed_net_options *o);

/* ed_net__on_connection is the listener's libuv connection callback. */
void ed_net__on_connection(uv_stream_t *server, int status);

/* ed_net__server_release drops one of |s->handles|; at zero after
 * ed_net_server_free, calls on_stopped and frees |s|. */
void ed_net__server_release(struct ed_net_server *s);

/* ed_net__close_all closes every connection of |s|. */
void ed_net__close_all(struct ed_net_server *s);

#endif /* ED_NET_INTERNAL_H */
