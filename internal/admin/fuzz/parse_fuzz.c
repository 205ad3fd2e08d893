/* libFuzzer target for the admin request parser: any bytes in, a request
 * or an error out, and a reply that is exactly one line of valid JSON.
 * Built with clang by fuzz_test.sh (outside Bazel's gcc toolchain). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reply must end in its only newline and parse back as an object. */
static void check_reply(char *reply) {
  size_t n = strlen(reply);
  if (n < 2 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1)) abort();
  cJSON *back = cJSON_ParseWithLength(reply, n);
  if (!cJSON_IsObject(back)) abort();
  if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(back, "ok"))) abort();
  cJSON_Delete(back);
  free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ed_admin_request req;
  char err[256];
  enum ed_admin_err e =
      ed_admin_parse(&req, (const char *)data, size, err, sizeof(err));
  if (e == ED_ADMIN_OK) {
    if (req.cmd == ED_ADMIN_UNKNOWN) abort();
    if (req.cmd == ED_ADMIN_SESSIONS &&
        (req.u.sessions.limit < 1 ||
         req.u.sessions.limit > ED_ADMIN_SESSIONS_MAX_LIMIT))
      abort();
    if (req.cmd == ED_ADMIN_KILL && !req.u.kill.cn == !req.u.kill.id) abort();
    if (req.cmd == ED_ADMIN_SESSION && req.u.session.id == 0) abort();
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "cmd", ed_admin_cmd_name(req.cmd));
    check_reply(ed_admin_reply_ok(req.id, res));
  } else {
    if (err[0] == '\0' || strlen(err) >= sizeof(err)) abort();
    check_reply(ed_admin_reply_error(req.id, e, err));
  }
  ed_admin_request_cleanup(&req);
  return 0;
}
