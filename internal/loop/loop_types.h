/* internal/loop — the words other modules share with the I/O loops
 * without linking them: a session's public state, why a new connection
 * was refused before its handshake, and why the re-check after a reload
 * closed a live session. Types and their names only (loop_types.c). */
#ifndef ED_LOOP_TYPES_H
#define ED_LOOP_TYPES_H

#include "internal/tls/tls_types.h"

/* A session's state as the admin socket shows and filters it. The loop's
 * own state machine (conn.c) has finer states; each maps to one of
 * these. */
#define ED_SESSION_STATES(X)    \
  X(ACCEPTED, "accepted")       \
  X(HANDSHAKING, "handshaking") \
  X(ESTABLISHED, "established") \
  X(CLOSING, "closing")

enum ed_session_state {
#define ED_SESSION_ENUM_(id, name) ED_SESSION_##id,
  ED_SESSION_STATES(ED_SESSION_ENUM_)
#undef ED_SESSION_ENUM_
      ED_SESSION_STATE_COUNT
};

/* ed_session_state_name returns "accepted", "handshaking", "established"
 * or "closing" ("unknown" when out of range); ed_session_state_parse does
 * the reverse: 0, or ED_E_INVAL for any other string (or NULL). */
const char *ed_session_state_name(enum ed_session_state s);
int ed_session_state_parse(enum ed_session_state *out, const char *s);

/* Why a new connection was closed before its handshake started. Label
 * values for echod_connections_rejected_total{reason}. max_handshaking:
 * --max-handshaking connections were already in their handshake. */
#define ED_REJECT_REASONS(X)                  \
  X(MAX_CONNECTIONS, "max_connections")       \
  X(PENDING_HANDSHAKES, "pending_handshakes") \
  X(DRAINING, "draining")                     \
  X(MAX_HANDSHAKING, "max_handshaking")

enum ed_reject_reason {
#define ED_REJ_ENUM_(id, name) ED_REJECT_##id,
  ED_REJECT_REASONS(ED_REJ_ENUM_)
#undef ED_REJ_ENUM_
      ED_REJECT_REASON_COUNT
};

/* ed_reject_reason_name returns the label ("max_connections"); static. */
const char *ed_reject_reason_name(enum ed_reject_reason r);

/* Why the re-check after a reload closed an established session: the
 * reason= of its "session closed" line and the label values of
 * echod_sessions_revoked_total{reason}. X(id, handshake reason, name):
 * each comes from exactly one verdict of ed_tls_peer_recheck, the reason
 * a new handshake with that certificate is refused with (ED_HS_*; the
 * re-check gives no other, and OTHER stands for its internal errors). */
#define ED_REVOKE_REASONS(X)                                      \
  X(REVOKED, CERT_REVOKED, "revoked")                             \
  X(ACL_DENIED, ACL_DENIED, "acl_denied")                         \
  X(UNKNOWN_CA, UNKNOWN_CA, "unknown_ca")                         \
  X(CERT_EXPIRED, CERT_EXPIRED, "cert_expired")                   \
  X(CERT_NOT_YET_VALID, CERT_NOT_YET_VALID, "cert_not_yet_valid") \
  X(CRL_EXPIRED, CRL_EXPIRED, "crl_expired")                      \
  X(CHAIN_TOO_LONG, CHAIN_TOO_LONG, "chain_too_long")             \
  X(OTHER, OTHER, "recheck_failed")

enum ed_revoke_reason {
#define ED_REV_ENUM_(id, hs, name) ED_REVOKE_##id,
  ED_REVOKE_REASONS(ED_REV_ENUM_)
#undef ED_REV_ENUM_
      ED_REVOKE_REASON_COUNT
};

/* ed_revoke_reason_name returns the label ("revoked"); static.
 * ed_revoke_reason_from_hs maps a re-check's verdict to its reason (a
 * handshake reason the re-check never gives maps to OTHER). */
const char *ed_revoke_reason_name(enum ed_revoke_reason r);
enum ed_revoke_reason ed_revoke_reason_from_hs(enum ed_hs_reason r);

#endif /* ED_LOOP_TYPES_H */
