/* internal/echoctl — the command-line face of the admin socket: turns
 * arguments into one request line, sends it, and prints the reply as
 * readable text (or raw JSON with --json). cmd/echoctl.c is a thin main.
 *
 * Exit codes (ED_ECHOCTL_EXIT_*): 0 the server said ok, 1 it replied with
 * an error, 2 usage error, 3 the server could not be reached. */
#ifndef ED_ECHOCTL_H
#define ED_ECHOCTL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

enum {
  ED_ECHOCTL_EXIT_OK = 0,
  ED_ECHOCTL_EXIT_ERROR = 1,
  ED_ECHOCTL_EXIT_USAGE = 2,
  ED_ECHOCTL_EXIT_UNREACHABLE = 3,
};

/* What the command line asked for. */
struct ed_echoctl_args {
  char socket[108]; /* resolved socket path */
  int json;         /* --json: print the raw reply */
  int help;         /* --help: print usage, exit 0 */
  int version;      /* --version: print echoctl's version line, exit 0 */
  double timeout_s; /* --timeout: wait this long for the reply (default 30) */
  char cmd[16];     /* wire command name */
  char *request;    /* one JSON line, no newline (caller frees) */
};

/* ed_echoctl_parse_args parses |argv| (argv[0] is the program name) into
 * |out|. The socket is --socket PATH, else <--state-dir>/admin.sock, else
 * "" (no flag: ed_echoctl_main looks in ed_echoctl_socket_places); relative
 * paths are resolved (ed_path_resolve). Every argument the server would
 * refuse (a state, level, id, count or duration out of its range) is
 * refused here first. Returns 0, or ED_E_USAGE with a one-line reason in
 * |err|. */
int ed_echoctl_parse_args(struct ed_echoctl_args *out, int argc, char **argv,
                          char *err, size_t err_len);

void ed_echoctl_args_cleanup(struct ed_echoctl_args *a);

/* ed_echoctl_usage returns the --help text (static). */
const char *ed_echoctl_usage(void);

/* ed_echoctl_parse_duration reads "30", "1.5s", "250ms", "5m", "2h", "1d"
 * into seconds. Returns 0 or ED_E_INVAL. */
int ed_echoctl_parse_duration(double *out_s, const char *s);

/* ed_echoctl_human_duration writes "45s", "3m 20s", "2h 5m", "12d 3h"
 * ("-" prefix when negative). ed_echoctl_human_bytes writes "512 B",
 * "1.5 KiB", "3.2 MiB", "1.0 GiB". Both return |out|. */
char *ed_echoctl_human_duration(char *out, size_t out_len, double seconds);
char *ed_echoctl_human_bytes(char *out, size_t out_len, double bytes);

/* ed_echoctl_print writes the human form of an ok reply's |result| for
 * command |cmd| to |out|. Every string it shows (and every member name)
 * goes through ed_echoctl_escape first, so a CN, SAN or message holding a
 * terminal escape sequence or a newline never reaches the terminal raw;
 * the metrics text keeps its newlines. (--json prints the reply as it
 * came: JSON escapes control bytes itself.) */
void ed_echoctl_print(FILE *out, const char *cmd, const cJSON *result);

/* ed_echoctl_escape returns a new string (caller frees) that shows |s| on
 * a terminal without letting it act on the terminal or hide in it:
 * control bytes (C0 and DEL; '\n' too unless |keep_newlines|), C1
 * controls, every invisible or format character (zero-width characters,
 * soft hyphen, bidirectional controls, line separators, BOM, variation
 * selectors, tag characters: one table in format.c), and bytes that are
 * not well-formed UTF-8 become \xNN (one per byte); a backslash becomes
 * \\, so the escaped text is unambiguous. Printable ASCII and other UTF-8
 * pass unchanged. NULL gives "". */
char *ed_echoctl_escape(const char *s, int keep_newlines);

/* ed_echoctl_exchange connects to |path|, sends |request| plus a newline
 * and reads one reply line into |*out_reply| (caller frees), waiting at
 * most |timeout_s|. Returns 0, or ED_E_IO with a sentence in |err| that
 * names the path and what to do. */
int ed_echoctl_exchange(char **out_reply, const char *path, const char *request,
                        double timeout_s, char *err, size_t err_len);

/* Where echoctl looks for the admin socket when neither --socket nor
 * --state-dir is given, in order: $ECHOD_ADMIN_SOCKET (what echod's
 * --admin-socket reads too), <ed_state_dir()>/admin.sock (dev mode, the
 * container), /run/echod/admin.sock (the systemd unit's
 * RuntimeDirectory), /var/lib/echod/admin.sock (echod run as the package's
 * user without the unit). Duplicates are dropped. */
#define ED_ECHOCTL_MAX_PLACES 4
struct ed_echoctl_places {
  char path[ED_ECHOCTL_MAX_PLACES][512];
  const char *from[ED_ECHOCTL_MAX_PLACES]; /* why it is a candidate (static) */
  size_t num;
};

/* ed_echoctl_socket_places fills |out| from the environment (see struct
 * ed_echoctl_places). */
void ed_echoctl_socket_places(struct ed_echoctl_places *out);

/* ed_echoctl_connect_any connects to the first place in |places| that
 * accepts a connection. On success sets |*out_fd| (caller closes) and
 * |*out_index| and returns 0. Otherwise returns ED_E_IO with one line in
 * |err| naming every place and why it did not answer, and what to do. */
int ed_echoctl_connect_any(int *out_fd, size_t *out_index,
                           const struct ed_echoctl_places *places, char *err,
                           size_t err_len);

/* ed_echoctl_main runs echoctl: parse, exchange, print. --version prints
 * |version_line| (cmd/echoctl.c passes ed_version_line's). Returns the
 * exit code. */
int ed_echoctl_main(int argc, char **argv, FILE *out, FILE *errf,
                    const char *version_line);

#endif /* ED_ECHOCTL_H */
