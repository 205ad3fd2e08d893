/* internal/base — what every echod module stands on: error codes, logfmt
 * logging, a capped growable buffer and checked allocation.
 *
 * Errors: functions return int, 0 on success or a negative ED_E_* code.
 * One X-macro table (ED_ERRORS) generates the enum, ed_errname() and
 * ed_strerror(). */
#ifndef ED_BASE_H
#define ED_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------ */

#define ED_ERRORS(X)                            \
  X(NOMEM, "out of memory")                     \
  X(INVAL, "invalid argument")                  \
  X(USAGE, "usage error")                       \
  X(IO, "input/output error")                   \
  X(NOENT, "no such file or directory")         \
  X(EXIST, "already exists")                    \
  X(PERM, "permission denied")                  \
  X(INSECURE, "file permissions too open")      \
  X(PARSE, "cannot parse")                      \
  X(TOOBIG, "too large")                        \
  X(AGAIN, "try again")                         \
  X(CLOSED, "connection closed")                \
  X(TLS, "TLS error")                           \
  X(CRYPTO, "cryptographic operation failed")   \
  X(NOTFOUND, "not found")                      \
  X(MISMATCH, "key does not match certificate") \
  X(VERIFY, "certificate verification failed")  \
  X(EXPIRED, "certificate expired")             \
  X(STATE, "invalid state")                     \
  X(TIMEOUT, "timed out")                       \
  X(SYS, "system call failed")

enum {
  ED_OK = 0,
  ED_E_FIRST_ = -1000,
#define ED_ERR_ENUM_(name, msg) ED_E_##name,
  ED_ERRORS(ED_ERR_ENUM_)
#undef ED_ERR_ENUM_
      ED_E_LAST_
};

/* ed_errname returns the short name of |err| ("NOMEM"), "OK" for 0, or
 * "UNKNOWN". The string is static. */
const char *ed_errname(int err);

/* ed_strerror returns a human message for |err|. Negative errno values
 * (as libuv returns them) map to strerror's text. The string is static. */
const char *ed_strerror(int err);

/* ---- checked allocation -------------------------------------------------- */

/* ed_malloc, ed_calloc, ed_realloc and ed_strdup never return NULL: on
 * allocation failure they log one line and abort(), since echod cannot
 * serve anyone once the heap is gone. ed_strdup(NULL) returns NULL. */
void *ed_malloc(size_t n);
void *ed_calloc(size_t count, size_t size);
void *ed_realloc(void *p, size_t n);
char *ed_strdup(const char *s);
char *ed_strndup(const char *s, size_t n);

/* ---- logging ------------------------------------------------------------- */

enum ed_log_level {
  ED_LOG_DEBUG = 0,
  ED_LOG_INFO = 1,
  ED_LOG_WARN = 2,
  ED_LOG_ERROR = 3,
};

/* How ed_log writes a line: logfmt (the default) or one JSON object. */
enum ed_log_format {
  ED_LOG_LOGFMT = 0,
  ED_LOG_JSON = 1,
};

/* The longest logfmt line ed_log builds on the stack, and the JSON line
 * it becomes: every input byte becomes at most 6 ("\u0001"). Longer lines
 * go through one heap buffer of their exact size: nothing is cut. */
#define ED_LOG_LINE_MAX 2048
#define ED_LOG_JSON_MAX (6 * ED_LOG_LINE_MAX + 64)

/* ed_log_set_level sets the minimum level written. Thread-safe. */
void ed_log_set_level(enum ed_log_level level);
enum ed_log_level ed_log_get_level(void);

/* ed_log_level_parse sets |*out| from "debug", "info", "warn" or "error".
 * Returns 0, or ED_E_INVAL for any other string. */
int ed_log_level_parse(enum ed_log_level *out, const char *s);
const char *ed_log_level_name(enum ed_log_level level);

/* ed_log_set_format chooses logfmt or JSON lines for every later ed_log
 * call. Thread-safe; echod sets it once, at startup. */
void ed_log_set_format(enum ed_log_format format);
enum ed_log_format ed_log_get_format(void);

/* ed_log_format_parse sets |*out| from "logfmt" or "json". Returns 0, or
 * ED_E_INVAL for any other string. ed_log_format_name is the inverse
 * ("unknown" out of range; static). */
int ed_log_format_parse(enum ed_log_format *out, const char *s);
const char *ed_log_format_name(enum ed_log_format format);

/* ed_log writes one logfmt line to stderr:
 *   ts=2026-11-26T12:00:00.123Z level=info msg="..." k=v k2="v 2"
 * (or, after ed_log_set_format(ED_LOG_JSON), that line as one JSON
 * object: ed_log_json_from_logfmt).
 * |fmt| formats the key=value pairs after msg; use ed_logq() to quote
 * values that may hold spaces or quotes. A line is never cut, however
 * long its values. One write(2) per line, so lines from several threads
 * never interleave. */
void ed_log(enum ed_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ed_vlog(enum ed_log_level level, const char *msg, const char *fmt,
             va_list ap);

#define ED_DEBUG(msg, ...) ed_log(ED_LOG_DEBUG, msg, __VA_ARGS__)
#define ED_INFO(msg, ...) ed_log(ED_LOG_INFO, msg, __VA_ARGS__)
#define ED_WARN(msg, ...) ed_log(ED_LOG_WARN, msg, __VA_ARGS__)
#define ED_ERROR(msg, ...) ed_log(ED_LOG_ERROR, msg, __VA_ARGS__)

/* ed_logq writes |s| into |out| (size |out_len|) as a logfmt value: bare
 * when it is printable ASCII without space, quote, '=' or backslash;
 * otherwise in double quotes with \" \\ \n \t escapes and \xNN for every
 * other control byte, DEL and every byte >= 0x80 (UTF-8 included: the
 * line stays ASCII, so no U+2028, bidi override or invisible character
 * reaches a reader). At most 4 * strlen(s) + 3 bytes. Truncates to fit
 * and always NUL-terminates. Returns |out|. A NULL |s| gives "". */
char *ed_logq(char *out, size_t out_len, const char *s);

/* ed_log_json_from_logfmt converts one logfmt line (|len| bytes, no
 * newline) into one JSON object in |out|, NUL-terminated, and returns its
 * length (0 when |out_len| < 32). It is what --log-format json writes:
 *   ts=... level=info msg="a b" k=v  ->
 *   {"ts":"...","level":"info","msg":"a b","k":"v"}
 * Keys keep their order; every value is a JSON string (logfmt has no
 * types, and guessing would give one key different types on different
 * lines). Quoted values lose ed_logq's escaping (\" \\ \n \t \xNN).
 * A word without '=' after an unquoted value continues that value
 * ("err=no such file" -> "err":"no such file"); elsewhere it is a key
 * with the value "". Output is ASCII-only JSON: control bytes, DEL and
 * every code point past ASCII are \u escaped (a surrogate pair above
 * U+FFFF), each byte that does not start a valid UTF-8 sequence becomes
 * \ufffd. Pairs that do not fit are dropped whole and "truncated":"true"
 * is added; with out_len >= 6 * len + 64 (ED_LOG_JSON_MAX for a line of
 * ED_LOG_LINE_MAX bytes) the whole line always fits. Pure: no I/O. */
size_t ed_log_json_from_logfmt(char *out, size_t out_len, const char *line,
                               size_t len);

/* ed_logq_bytes is ed_logq for |len| bytes nothing has checked (a refused
 * client certificate's CN): any byte may appear, NUL included, and is
 * escaped as ed_logq escapes it, so the value reaches a log reader inert.
 * Always quoted. Needs 4 * len + 3 bytes to
 * fit whole; truncates to fit otherwise. Returns |out|. */
char *ed_logq_bytes(char *out, size_t out_len, const void *s, size_t len);

/* ---- capped growable buffer ---------------------------------------------- */

/* A byte buffer that grows on demand up to |cap| bytes (fixed at init),
 * like curl's dynbuf. Embeddable value type: init/cleanup. */
struct ed_buf {
  uint8_t *data;
  size_t len;   /* bytes in use */
  size_t alloc; /* bytes allocated */
  size_t cap;   /* never grows past this */
};

void ed_buf_init(struct ed_buf *b, size_t cap);
void ed_buf_cleanup(struct ed_buf *b);

/* ed_buf_append copies |len| bytes to the end. Returns 0, or ED_E_TOOBIG
 * (buffer unchanged) if that would pass the cap. */
int ed_buf_append(struct ed_buf *b, const void *data, size_t len);

/* ed_buf_printf appends formatted text (no NUL counted in len; one is kept
 * after the data). Returns 0 or ED_E_TOOBIG (buffer unchanged). */
int ed_buf_printf(struct ed_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ed_buf_consume drops |n| bytes from the front (all if n >= len). */
void ed_buf_consume(struct ed_buf *b, size_t n);

/* ed_buf_reset empties the buffer and keeps its allocation. */
void ed_buf_reset(struct ed_buf *b);

/* ed_buf_space returns room left before the cap. */
size_t ed_buf_space(const struct ed_buf *b);

/* ed_buf_reserve makes room for |total| bytes in all (those already in
 * it included), allocating exactly that much when more is needed (and
 * nothing when there is room): for a buffer whose final size is known
 * before its bytes arrive, so it does not double past it. Returns 0, or
 * ED_E_TOOBIG (buffer unchanged) when |total| passes the cap. */
int ed_buf_reserve(struct ed_buf *b, size_t total);

/* ed_buf_cstr returns the data as a NUL-terminated string (adding the
 * terminator if needed; an empty buffer gives ""). Valid until the next
 * change to |b|. */
const char *ed_buf_cstr(struct ed_buf *b);

/* ---- small helpers ------------------------------------------------------- */

/* ed_json_find_nul scans |len| bytes of JSON text (that parsed) for a
 * string holding a NUL: the escape \u0000, or a raw NUL byte. A parser
 * that hands out NUL-terminated strings (cJSON's valuestring) silently
 * cuts such a string there ("alice\u0000evil" reads as "alice"), so
 * whoever reads JSON refuses it instead. Returns 0 when there is none;
 * else 1, and writes to |out_key| (|out_key_len| bytes, NUL-terminated,
 * bytes outside printable ASCII shown as '?', cut to fit) the member name
 * it belongs to: the name itself when the NUL is in a name, else the name
 * whose value (or array element) the string is; "" at the top level. An
 * escaped backslash ("\\u0000") is not a NUL. Pure. */
int ed_json_find_nul(const char *text, size_t len, char *out_key,
                     size_t out_key_len);

/* ed_now_ns returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t ed_now_ns(void);
/* ed_wall_ns returns CLOCK_REALTIME in nanoseconds since the epoch. */
uint64_t ed_wall_ns(void);

/* ed_read_file reads a whole file (at most |max| bytes) into a new buffer,
 * NUL-terminated. On success sets |*out| (caller frees) and |*out_len|.
 * Returns 0, ED_E_NOENT, ED_E_PERM, ED_E_TOOBIG or ED_E_IO. */
int ed_read_file(uint8_t **out, size_t *out_len, const char *path, size_t max);

/* ed_write_file_atomic writes |len| bytes to |path| through a temporary
 * file in the same directory, fsync and rename, with |mode|. A crash leaves
 * either the old file or the new one. Returns 0 or ED_E_IO/ED_E_PERM. */
int ed_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* ---- where echod keeps its state ----------------------------------------- */

/* ed_state_dir writes echod's state directory into |out|: $ECHOD_STATE_DIR
 * if set, else $XDG_STATE_HOME/echod, else $HOME/.local/state/echod, else
 * /var/lib/echod. A relative value is resolved by ed_path_resolve. The server,
 * pki, client and echoctl all use it, so they find each other's files with no
 * flags. Layout inside it: pki/            the CA (ca.pem, ca.key, crl.pem,
 * index.json) and the certificates it issued (NAME.pem, NAME.key,
 * NAME-chain.pem) admin.sock      the admin socket Returns 0, or ED_E_TOOBIG if
 * |out_len| is too small. */
int ed_state_dir(char *out, size_t out_len);

/* ed_state_dir_unset is ed_state_dir as if $ECHOD_STATE_DIR were unset:
 * what a tool started from another shell finds by itself. */
int ed_state_dir_unset(char *out, size_t out_len);

/* The packaged service's state directory (its unit's StateDirectory). */
#define ED_SERVICE_STATE_DIR "/var/lib/echod"

/* ed_tool_state_dir writes the state directory whose CA a tool uses when
 * told none (echo-client, echo-bench, echo-pki but for init): ed_state_dir's,
 * or |service_dir| (ED_SERVICE_STATE_DIR) when $ECHOD_STATE_DIR is unset,
 * ed_state_dir's holds no CA (pki/ca.pem) and |service_dir|'s does and is
 * readable (root, or the service's user), as echoctl falls back to the
 * unit's admin socket: so root on a host with the package installed finds
 * the service's CA, and never makes a second one by mistake. Returns 1
 * when it fell back, 0 when not, ED_E_TOOBIG if |out_len| is too small. */
int ed_tool_state_dir(char *out, size_t out_len, const char *service_dir);

/* ed_path_resolve returns |path| as an absolute path (caller frees), so
 * that every tool reads relative paths (flags, ECHOD_* variables, config
 * files) the way the user meant them: relative to |base_dir| when it is
 * given and not empty (a config file's directory), else to
 * $BUILD_WORKING_DIRECTORY when set (the directory `bazel run` was typed
 * in; Bazel runs the binary in its runfiles tree), else to the current
 * directory. An absolute |path| is returned as is; leading "./" segments
 * are dropped. NULL gives NULL; when the base cannot be known (getcwd
 * fails) |path| is returned unchanged. */
char *ed_path_resolve(const char *base_dir, const char *path);

/* ed_mkdir_p creates |path| and its missing parents with |mode| (parents
 * too). An existing directory is fine. Returns 0 or ED_E_IO/ED_E_PERM. */
int ed_mkdir_p(const char *path, unsigned mode);

#endif /* ED_BASE_H */
