/* internal/sdnotify — systemd's service notification protocol, spoken
 * natively (no libsystemd): a service started with Type=notify finds a
 * Unix datagram socket in $NOTIFY_SOCKET and sends it newline-separated
 * KEY=VALUE lines (sd_notify(3)): READY=1, RELOADING=1 with
 * MONOTONIC_USEC=, STOPPING=1, STATUS=, WATCHDOG=1.
 *
 * The message builders and parsers here are pure; ed_sdnotify_send does
 * the I/O, one datagram per call, and reads $NOTIFY_SOCKET each time
 * (nothing is unset; any thread may call it). Without $NOTIFY_SOCKET every
 * send is a no-op.
 *
 * System calls per send (for the seccomp allow-list): sendto on the
 * socket ed_sdnotify_open made at startup; without it, socket(AF_UNIX,
 * SOCK_DGRAM|SOCK_CLOEXEC), sendto, close.
 *
 * Who sends what (echod): internal/sdnotify/service.h sends READY=1 once
 * every listener and the admin socket accept, the STATUS= line and the
 * watchdog pings; ed_server_reload sends RELOADING=1 before and READY=1
 * after every reload; ed_server_drain sends STOPPING=1. */
#ifndef ED_SDNOTIFY_H
#define ED_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ed_sdnotify_addr parses a $NOTIFY_SOCKET value into |*out| and
 * |*out_len| (the length to pass to sendto): an absolute path, or "@name"
 * for Linux's abstract namespace (systemd's notation). Returns 0, or
 * ED_E_INVAL for NULL, "", a relative path, a bare "@" or one that does
 * not fit sun_path. Pure. */
int ed_sdnotify_addr(struct sockaddr_un *out, socklen_t *out_len,
                     const char *value);

/* ed_sdnotify_open opens the datagram socket every later send uses, when
 * $NOTIFY_SOCKET is set: call it once at startup, before any thread runs
 * and before the sandbox (which refuses socket()). Returns 0 (also when
 * there is nothing to open), or ED_E_IO. */
int ed_sdnotify_open(void);

/* ed_sdnotify_send sends |msg| as one datagram to $NOTIFY_SOCKET. Returns
 * 0 when sent, ED_E_NOENT when $NOTIFY_SOCKET is unset or empty (not run
 * by systemd: nothing to do), ED_E_INVAL for a value ed_sdnotify_addr
 * refuses, ED_E_IO when the socket or the send fails. Never blocks: the
 * datagram is small and sent with MSG_DONTWAIT. */
int ed_sdnotify_send(const char *msg);

/* ed_sdnotify_hand_over sends |msg| ("MAINPID=N": an upgrade's new
 * process is the service now) and mutes every later send from this
 * process (they return ED_E_NOENT): the old process drains quietly, its
 * STOPPING=1 or STATUS= must not speak for the service. */
int ed_sdnotify_hand_over(const char *msg);

/* ed_sdnotify_reloading_msg writes "RELOADING=1\nMONOTONIC_USEC=N" with
 * |monotonic_usec| (CLOCK_MONOTONIC in microseconds) into |out|. Returns 0
 * or ED_E_TOOBIG. Pure. */
int ed_sdnotify_reloading_msg(char *out, size_t out_len,
                              uint64_t monotonic_usec);

/* ed_sdnotify_reloading sends RELOADING=1 with the current MONOTONIC_USEC
 * (as systemd asks: before a reload starts). The result is that of
 * ed_sdnotify_send. */
int ed_sdnotify_reloading(void);

/* What the STATUS= line says. */
struct ed_sdnotify_status {
  const char *state;          /* "running", "draining", ... */
  uint64_t sessions;          /* open connections */
  int reload_ok;              /* last reload (or the startup load) */
  const char *reload_trigger; /* "startup", "admin", "signal", "watch" */
  uint64_t reload_wall_ns;    /* when, ns since the epoch */
  const char *reload_error;   /* why it failed; NULL or "" when ok */
};

/* ed_sdnotify_status_msg writes one "STATUS=..." line for |st| into |out|:
 *   STATUS=running, 3 sessions; last reload ok (signal, 2026-11-26T12:00:03Z)
 *   STATUS=running, 1 session; last reload FAILED (watch,
 *       2026-11-26T12:00:03Z): cannot read certificate file ...
 * The error is cut to fit |out| and every control byte in it becomes a
 * space, so the message stays one line. Returns 0, or ED_E_TOOBIG when
 * |out| cannot hold even the part before the error. Pure. */
int ed_sdnotify_status_msg(char *out, size_t out_len,
                           const struct ed_sdnotify_status *st);

/* ed_sdnotify_watchdog_usec reads the watchdog settings systemd passes in
 * $WATCHDOG_USEC (|usec|) and $WATCHDOG_PID (|pid|, may be NULL or ""),
 * for the process |self_pid|. On success sets |*out_usec| (> 0) and
 * returns 0: ping at least every *out_usec / 2. Returns ED_E_NOENT when
 * there is no watchdog for this process (|usec| unset or empty, or
 * WATCHDOG_PID names another process), ED_E_INVAL for a value that is not
 * a positive decimal number. Pure. */
int ed_sdnotify_watchdog_usec(uint64_t *out_usec, const char *usec,
                              const char *pid, long self_pid);

#endif /* ED_SDNOTIFY_H */
