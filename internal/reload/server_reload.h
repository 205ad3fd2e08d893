/* internal/reload/server_reload.h — the reload triggers bound to the
 * server: a reload is ed_server_reload (build + check a new credential
 * snapshot on the control thread, then publish it), and the watched files
 * are the server's resolved cert, key, CA and CRL. */
#ifndef ED_RELOAD_SERVER_RELOAD_H
#define ED_RELOAD_SERVER_RELOAD_H

#include "internal/reload/reload.h"
#include "internal/server/server.h"

/* ed_reload_start starts file watching (unless --no-watch; SIGHUP is
 * handled by ed_server_run itself) on the server's control loop and
 * registers a stop hook that closes the triggers. Every reload goes
 * through ed_server_reload, which records it. |srv| is borrowed for the
 * server's life. On success sets |*out| (owned by the server's stop hook;
 * pass it to ed_admin_start) and returns 0; else a negative ED_E_* code. */
int ed_reload_start(struct ed_reload **out, struct ed_server *srv);

#endif /* ED_RELOAD_SERVER_RELOAD_H */
