/* internal/client — moving the data once the handshake is done. Pipe mode
 * keeps stdin -> server and server -> stdout moving at the same time, and
 * so does interactive mode within a line, so a large input can never
 * deadlock against the server's bounded echo buffer. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/client/conn.h"

#define IO_CHUNK 16384
#define CLOSE_GRACE_MS 2000 /* wait this long for the server's close_notify */

/* ---- data ---------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      poll(&pf, 1, 1000);
      continue;
    }
    if (n == 0) errno = EIO;
    if (n <= 0) return ED_E_IO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* pump_read moves everything readable from the server to |out_fd|.
 * Returns 0 (would block, or the server closed: see c->peer_close and
 * c->peer_gone) or an error already explained. */
static int pump_read(struct ed_client_conn *c, int out_fd) {
  uint8_t buf[IO_CHUNK];
  for (;;) {
    errno = 0;
    int n = SSL_read(c->ssl, buf, sizeof(buf));
    if (n > 0) {
      c->recvd += (uint64_t)n;
      if (out_fd >= 0 && write_all(out_fd, buf, (size_t)n) != 0) {
        ed_client__say(c, "echo-client: cannot write the echo to stdout: %s",
                       strerror(errno));
        return ED_E_IO;
      }
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return c->peer_close = 1, 0;
    /* A server that hangs up after our close_notify without sending its
     * own has lost nothing once every byte is back. */
    if (e == SSL_ERROR_SYSCALL && c->close_sent && c->recvd >= c->sent) {
      ERR_clear_error();
      return c->peer_gone = 1, 0;
    }
    return ed_client__explain_failure(c, "session", e);
  }
}

/* pump_write sends buf[*off..len). Sets |*want_out| when the socket is
 * full. Returns 0 or an explained error. A write that wanted more room is
 * retried with the same bytes, as SSL_write requires. */
static int pump_write(struct ed_client_conn *c, const uint8_t *buf, size_t len,
                      size_t *off, int *want_out) {
  *want_out = 0;
  while (*off < len) {
    size_t chunk = len - *off > IO_CHUNK ? IO_CHUNK : len - *off;
    errno = 0;
    int n = SSL_write(c->ssl, buf + *off, (int)chunk);
    if (n > 0) {
      *off += (size_t)n;
      c->sent += (uint64_t)n;
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) return *want_out = 1, 0;
    if (e == SSL_ERROR_WANT_READ) return 0;
    return ed_client__explain_failure(c, "session", e);
  }
  return 0;
}

/* send_close sends our close_notify. Returns 1 once sent, 0 if the socket
 * was full, or an explained error. */
static int send_close(struct ed_client_conn *c) {
  errno = 0;
  int r = SSL_shutdown(c->ssl);
  if (r >= 0) return c->close_sent = 1;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
  return ed_client__explain_failure(c, "close", e);
}

/* ---- pipe mode ----------------------------------------------------------- */

struct pipe_state {
  uint8_t in[IO_CHUNK];
  size_t in_len, in_off;
  int in_eof;
  int closing;          /* our close_notify is out */
  uint64_t progress_ns; /* last time a byte moved */
  uint64_t echoed_ns;   /* when the last echo byte arrived after closing */
};

/* server_ended explains a session the server closed first (its
 * close_notify before ours). The wire says no more: a drain, `echoctl
 * kill`, --idle-timeout and the re-check after a reload (revoked, off
 * the allow-list) all send a bare close_notify. */
static int server_ended(struct ed_client_conn *c) {
  char echoed[96];
  if (c->sent == 0)
    snprintf(echoed, sizeof(echoed), "nothing had been sent");
  else if (c->recvd == c->sent)
    snprintf(echoed, sizeof(echoed), "all %llu bytes sent were echoed",
             (unsigned long long)c->sent);
  else
    snprintf(echoed, sizeof(echoed), "%llu of %llu bytes sent were echoed",
             (unsigned long long)c->recvd, (unsigned long long)c->sent);
  ed_client__say(c,
                 "echo-client: the server ended the session: the server is "
                 "shutting down, its operator or idle timeout closed this "
                 "session, or a reload found this client's certificate "
                 "revoked or no longer allowed (%s); the server's log says "
                 "which",
                 echoed);
  return ED_E_CLOSED;
}

static int pipe_done(struct ed_client_conn *c, const struct pipe_state *s) {
  if (!c->o->quiet)
    ed_client__say(
        c,
        "echo-client: closed: sent=%llu received=%llu server_close_notify=%s",
        (unsigned long long)c->sent, (unsigned long long)c->recvd,
        c->peer_close ? "yes" : "no");
  if (s->in_eof && !s->in_len && c->recvd == c->sent) return 0;
  if (c->peer_close && !s->closing) return server_ended(c);
  ed_client__say(
      c,
      "echo-client: the server closed the session after echoing %llu "
      "of %llu bytes; the server's log says why",
      (unsigned long long)c->recvd, (unsigned long long)c->sent);
  return ED_E_CLOSED;
}

static int read_stdin(struct ed_client_conn *c, struct pipe_state *s,
                      int in_fd) {
  ssize_t n = read(in_fd, s->in, sizeof(s->in));
  if (n > 0) {
    s->in_len = (size_t)n;
    s->in_off = 0;
  } else if (n == 0) {
    s->in_eof = 1;
  } else if (errno != EINTR && errno != EAGAIN) {
    ed_client__say(c, "echo-client: cannot read stdin: %s", strerror(errno));
    return ED_E_IO;
  }
  return 0;
}

/* want_ticket: with --sess-out, the session is not saved yet. BoringSSL
 * ignores tickets once our close_notify is out, so closing waits for it. */
static int want_ticket(const struct ed_client_conn *c) {
  return c->o->sess_out && !c->saved_session;
}

/* pipe_step moves what can move without blocking. Sets |*want_out| when
 * the socket is full. Returns 0 or an explained error. */
static int pipe_step(struct ed_client_conn *c, struct pipe_state *s, int out_fd,
                     int *want_out) {
  int rc = pump_write(c, s->in, s->in_len, &s->in_off, want_out);
  if (rc) return rc;
  if (s->in_off == s->in_len) s->in_len = s->in_off = 0;
  if ((rc = pump_read(c, out_fd)) != 0) return rc;
  if (s->in_eof && !s->in_len && !s->closing && !want_ticket(c)) {
    rc = send_close(c);
    if (rc < 0) return rc;
    s->closing = rc;
    if (!rc) *want_out = 1;
  }
  return 0;
}

/* pipe_timeout returns the poll timeout in ms (-1: wait for stdin) or 0
 * with |*stalled| set when the server has made no progress for too long. */
static int pipe_timeout(struct ed_client_conn *c, struct pipe_state *s,
                        int *stalled) {
  uint64_t now = ed_now_ns();
  *stalled = 0;
  if (s->echoed_ns) {
    uint64_t end = s->echoed_ns + (uint64_t)CLOSE_GRACE_MS * 1000000;
    return now >= end ? 0 : (int)((end - now) / 1000000 + 1);
  }
  if (!s->in_eof && !s->in_len && c->recvd >= c->sent) return -1;
  uint64_t end = s->progress_ns + (uint64_t)c->o->timeout_ms * 1000000;
  if (now >= end) return *stalled = 1, 0;
  return (int)((end - now) / 1000000 + 1);
}

/* pipe_stalled explains why nothing moved for the timeout. */
static int pipe_stalled(struct ed_client_conn *c, const struct pipe_state *s) {
  unsigned secs = c->o->timeout_ms / 1000;
  if (s->in_eof && !s->in_len && c->recvd >= c->sent && want_ticket(c)) {
    ed_client__say(
        c, "echo-client: the server sent no session ticket within %us", secs);
  } else {
    ed_client__say(
        c,
        "echo-client: the server stopped echoing (sent %llu bytes, got "
        "%llu back, nothing for %us)",
        (unsigned long long)c->sent, (unsigned long long)c->recvd, secs);
  }
  return ED_E_TIMEOUT;
}

int ed_client__pipe_mode(struct ed_client_conn *c, int in_fd, int out_fd) {
  struct pipe_state *s = ed_calloc(1, sizeof(*s));
  int rc = 0;
  s->progress_ns = ed_now_ns();
  for (;;) {
    uint64_t before = c->sent + c->recvd;
    int want_out = 0, stalled;
    if ((rc = pipe_step(c, s, out_fd, &want_out)) != 0) break;
    if (c->sent + c->recvd != before) s->progress_ns = ed_now_ns();
    if (c->peer_close || c->peer_gone) break;
    if (s->closing && c->recvd >= c->sent && !s->echoed_ns)
      s->echoed_ns = ed_now_ns();
    int timeout = pipe_timeout(c, s, &stalled);
    if (stalled) {
      rc = pipe_stalled(c, s);
      break;
    }
    if (s->echoed_ns && timeout == 0) break; /* no close_notify: fine */
    struct pollfd p[2] = {
        {.fd = c->fd, .events = (short)(POLLIN | (want_out ? POLLOUT : 0))},
        {.fd = in_fd, .events = POLLIN}};
    int nfds = (!s->in_eof && !s->in_len) ? 2 : 1;
    if (poll(p, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
      ed_client__say(c, "echo-client: poll failed: %s", strerror(errno));
      rc = ED_E_SYS;
      break;
    }
    if (nfds == 2 && p[1].revents && (rc = read_stdin(c, s, in_fd)) != 0) break;
  }
  if (rc == 0) rc = pipe_done(c, s);
  free(s);
  return rc;
}

/* ---- interactive mode ---------------------------------------------------- */

/* exchange sends |len| bytes and copies their echo to |out_fd|. It reads
 * while it writes, so a line longer than the socket buffers cannot
 * deadlock against the server's bounded echo buffer, and gives up after
 * timeout_ms in which nothing moved. */
static int exchange(struct ed_client_conn *c, const uint8_t *buf, size_t len,
                    int out_fd) {
  uint64_t limit_ns = (uint64_t)c->o->timeout_ms * 1000000;
  uint64_t deadline = ed_now_ns() + limit_ns;
  size_t off = 0;
  for (;;) {
    uint64_t before = c->sent + c->recvd;
    int want_out = 0;
    int rc = pump_write(c, buf, len, &off, &want_out);
    if (!rc) rc = pump_read(c, out_fd);
    if (rc) return rc;
    if (c->peer_close) return server_ended(c);
    if (off == len && c->recvd >= c->sent) return 0;
    if (c->sent + c->recvd != before) deadline = ed_now_ns() + limit_ns;
    struct pollfd p = {.fd = c->fd,
                       .events = (short)(POLLIN | (want_out ? POLLOUT : 0))};
    int r = poll(&p, 1, (int)ed_client__ms_left(deadline));
    if (r < 0 && errno != EINTR) {
      ed_client__say(c, "echo-client: poll failed: %s", strerror(errno));
      return ED_E_SYS;
    }
    if (r == 0) break;
  }
  if (off < len) {
    ed_client__say(c,
                   "echo-client: the server stopped reading (nothing for %us)",
                   c->o->timeout_ms / 1000);
  } else {
    ed_client__say(c, "echo-client: no echo from the server within %us",
                   c->o->timeout_ms / 1000);
  }
  return ED_E_TIMEOUT;
}

/* settle gives the server a moment to send its post-handshake records: in
 * TLS 1.3 the client's certificate is judged after the client's handshake
 * is done, so a refusal shows up here rather than in SSL_connect. */
static int settle(struct ed_client_conn *c, int out_fd, int ms) {
  uint64_t deadline = ed_now_ns() + (uint64_t)ms * 1000000;
  if (ed_client__wait_ssl(c, SSL_ERROR_WANT_READ, deadline) != 0) return 0;
  int rc = pump_read(c, out_fd);
  if (!rc && c->peer_close) {
    ed_client__say(
        c,
        "echo-client: the server closed the session right after the handshake");
    return ED_E_CLOSED;
  }
  return rc;
}

static int is_quit(const char *line) {
  return strcmp(line, "quit\n") == 0 || strcmp(line, "quit") == 0 ||
         strcmp(line, "exit\n") == 0;
}

/* open_input returns a stdio stream over a duplicate of |in_fd| (so
 * fclose leaves the caller's descriptor open), or NULL after saying why. */
static FILE *open_input(struct ed_client_conn *c, int in_fd) {
  int fd = dup(in_fd);
  FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
  if (in) return in;
  ed_client__say(c, "echo-client: cannot read stdin: %s", strerror(errno));
  if (fd >= 0) close(fd);
  return NULL;
}

int ed_client__interactive(struct ed_client_conn *c, int in_fd, int out_fd) {
  int rc = settle(c, out_fd, 500);
  if (rc) return rc;
  if (!c->o->quiet)
    ed_client__say(c,
                   "Connected to %s. Type a line to have it echoed; quit or "
                   "Ctrl-D ends.",
                   c->target);
  FILE *in = open_input(c, in_fd);
  if (!in) return ED_E_SYS;
  char *line = NULL;
  size_t cap = 0;
  for (;;) {
    if (!c->o->quiet) write_all(out_fd, (const uint8_t *)"echo> ", 6);
    ssize_t n = getline(&line, &cap, in);
    if (n <= 0 || is_quit(line)) break;
    if ((rc = exchange(c, (const uint8_t *)line, (size_t)n, out_fd)) != 0)
      break;
  }
  if (!c->o->quiet && rc == 0) write_all(out_fd, (const uint8_t *)"\n", 1);
  free(line);
  fclose(in);
  if (rc == 0 && send_close(c) == 0) {
    uint64_t deadline = ed_now_ns() + 1000000000ull;
    if (ed_client__wait_ssl(c, SSL_ERROR_WANT_WRITE, deadline) == 0)
      send_close(c);
  }
  return rc;
}
