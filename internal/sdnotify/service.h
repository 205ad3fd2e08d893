/* internal/sdnotify — the notification protocol bound to the server: what
 * systemd hears from a running echod between READY=1 and STOPPING=1.
 * cmd/server.c calls ed_sdnotify_service_start once, after the listeners,
 * the metrics endpoint and the admin socket are up, just before
 * ed_server_run.
 *
 *   READY=1 + STATUS=   at start, on the control loop's first turn:
 *                       every listener and the admin socket accept by
 *                       then, so `systemctl start` returning means
 *                       `echoctl status` and clients work, and the
 *                       signal handlers are installed, so a `systemctl
 *                       reload` or `stop` right after is handled
 *   STATUS=             sessions and the last reload: refreshed every
 *                       ED_SDNOTIFY_STATUS_MS when it changed, and right
 *                       after a reload (a check on the control loop
 *                       compares the reload count on each iteration)
 *   WATCHDOG=1          with $WATCHDOG_USEC (WatchdogSec=), at least
 *                       every WATCHDOG_USEC/2, from the control loop's
 *                       timer: a stuck control loop stops the pings
 *
 * RELOADING=1/READY=1 around reloads and STOPPING=1 on drain are sent by
 * the server itself (sdnotify.h). */
#ifndef ED_SDNOTIFY_SERVICE_H
#define ED_SDNOTIFY_SERVICE_H

#include "internal/server/server.h"

/* How often STATUS= is refreshed (when it changed) without a watchdog. */
#define ED_SDNOTIFY_STATUS_MS 5000

struct ed_sdnotify_service;

/* ed_sdnotify_service_start does nothing and returns 0 with |*out| NULL
 * when $NOTIFY_SOCKET is unset (not started by systemd). Otherwise it
 * starts its timer (whose first tick, in ed_server_run, sends READY=1
 * with the first STATUS=) and check on
 * the server's control loop, registers a stop hook that closes them and
 * frees the service (the server owns it from here), sets |*out| and
 * returns 0. A malformed $WATCHDOG_USEC is logged and ignored (systemd
 * then stops the service for missing pings, which the log explains). A
 * failed send is logged once and not retried as an error: systemd's
 * start timeout reports it. |srv| is borrowed for the server's life. */
int ed_sdnotify_service_start(struct ed_sdnotify_service **out,
                              struct ed_server *srv);

#endif /* ED_SDNOTIFY_SERVICE_H */
