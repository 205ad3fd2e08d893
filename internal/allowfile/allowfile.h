/* internal/allowfile — the --allow-file format: allow-list entries in a
 * file that is re-read with the credentials on every reload (the
 * --allow-cn/--allow-san/--allow-sha256 flags need a restart).
 *
 * One entry per line, written as the flag without its dashes:
 *
 *   # comment (a '#' first on the line)
 *   allow-cn alice
 *   allow-san URI:spiffe://echod/bob
 *   allow-sha256 3f:2a:...            (64 hex digits, colons allowed)
 *
 * The value is every byte after the first space, up to the line's '\n'
 * (the last line may lack one): nothing is trimmed, so "allow-cn a b" is
 * the CN "a b" and a trailing space is part of the value. Blank lines are
 * skipped. A control byte anywhere (NUL, '\r' of a CRLF file, a tab, DEL),
 * an unknown keyword or an empty value is an error naming FILE:LINE.
 * allow-san values are stored as written; their typed form (DNS:, URI:,
 * email:, IP: or bare) is checked by the caller with the line number kept
 * here. The parser is a pure function over a buffer. */
#ifndef ED_ALLOWFILE_H
#define ED_ALLOWFILE_H

#include <stddef.h>
#include <stdint.h>

/* Largest file ed_allowfile_load reads. */
#define ED_ALLOWFILE_MAX (1u << 20)

/* Entries of one keyword, in file order. */
struct ed_allowfile_list {
  char **items;    /* owned, NUL-terminated */
  unsigned *lines; /* items[i] is on line lines[i] (1-based) */
  size_t num;
};

/* Every entry of one file. Zero-initialize (= no entries) before use. */
struct ed_allowfile {
  struct ed_allowfile_list cn;
  struct ed_allowfile_list san;
  struct ed_allowfile_list sha256; /* 64 lowercase hex digits, bare */
};

/* ed_allowfile_parse parses |len| bytes of |buf| (a file called |name|,
 * for messages) into |out|, which must be empty. Returns 0; or ED_E_PARSE
 * with "NAME:LINE: why" in |err| and |out| left empty. */
int ed_allowfile_parse(struct ed_allowfile *out, const char *name,
                       const uint8_t *buf, size_t len, char *err,
                       size_t err_len);

/* ed_allowfile_load reads |path| (at most ED_ALLOWFILE_MAX bytes) and
 * parses it like ed_allowfile_parse. Returns 0; ED_E_NOENT, ED_E_PERM,
 * ED_E_IO or ED_E_TOOBIG with a line naming the file in |err|; or
 * ED_E_PARSE. On failure |out| is left empty. */
int ed_allowfile_load(struct ed_allowfile *out, const char *path, char *err,
                      size_t err_len);

/* ed_allowfile_cleanup frees every entry and empties |a|. */
void ed_allowfile_cleanup(struct ed_allowfile *a);

#endif /* ED_ALLOWFILE_H */
