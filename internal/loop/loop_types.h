/* internal/loop — the words other modules share with the I/O loops
 * without linking them: a session's public state and why a new
 * connection was refused before its handshake. Types and their names
 * only (loop_types.c). */
#ifndef ED_LOOP_TYPES_H
#define ED_LOOP_TYPES_H

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
 * values for echod_connections_rejected_total{reason}. */
#define ED_REJECT_REASONS(X)                  \
  X(MAX_CONNECTIONS, "max_connections")       \
  X(PENDING_HANDSHAKES, "pending_handshakes") \
  X(DRAINING, "draining")

enum ed_reject_reason {
#define ED_REJ_ENUM_(id, name) ED_REJECT_##id,
  ED_REJECT_REASONS(ED_REJ_ENUM_)
#undef ED_REJ_ENUM_
      ED_REJECT_REASON_COUNT
};

/* ed_reject_reason_name returns the label ("max_connections"); static. */
const char *ed_reject_reason_name(enum ed_reject_reason r);

#endif /* ED_LOOP_TYPES_H */
