/* internal/upgrade — the hand-over (see upgrade.h): sending sockets with
 * SCM_RIGHTS, and the new process's side: its environment, the fetch from
 * the old process's admin socket, its status line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/upgrade/upgrade.h"

#define FETCH_TIMEOUT_S 10
#define REPLY_MAX (64 * 1024)

int ed_upgrade_send(int sock, const void *data, size_t len, const int *fds,
                    size_t num) {
  if (num > ED_UPGRADE_MAX_FDS) return ED_E_INVAL;
  char ctl[CMSG_SPACE(sizeof(int) * ED_UPGRADE_MAX_FDS)];
  memset(ctl, 0, sizeof(ctl));
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (num) {
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * num);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * num);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * num);
  }
  ssize_t n = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n == (ssize_t)len ? 0 : ED_E_IO;
}

int ed_upgrade_token(char *out) {
  uint8_t raw[ED_UPGRADE_TOKEN_LEN / 2];
  if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) return ED_E_IO;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof(raw); i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[ED_UPGRADE_TOKEN_LEN] = '\0';
  return 0;
}

int ed_upgrade_token_equal(const char *a, const char *b) {
  if (!a || !b || strlen(a) != ED_UPGRADE_TOKEN_LEN ||
      strlen(b) != ED_UPGRADE_TOKEN_LEN)
    return 0;
  unsigned char d = 0;
  for (size_t i = 0; i < ED_UPGRADE_TOKEN_LEN; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* ---- the new process ------------------------------------------------------
 */

int ed_upgrade_child_from_env(struct ed_upgrade_child *out) {
  const char *fd = getenv("ECHOD_UPGRADE_FD");
  const char *tok = getenv("ECHOD_UPGRADE_TOKEN");
  const char *sock = getenv("ECHOD_UPGRADE_SOCKET");
  memset(out, 0, sizeof(*out));
  out->status_fd = -1;
  int rc = 0;
  if (fd || tok || sock) {
    char *end = NULL;
    long n = fd ? strtol(fd, &end, 10) : -1;
    rc = fd && *fd && !*end && n > 2 && fcntl((int)n, F_GETFD) >= 0 && tok &&
                 strlen(tok) == ED_UPGRADE_TOKEN_LEN && sock &&
                 strlen(sock) < sizeof(out->socket)
             ? 1
             : ED_E_USAGE;
    if (rc == 1) {
      out->status_fd = (int)n;
      fcntl(out->status_fd, F_SETFD, FD_CLOEXEC);
      snprintf(out->token, sizeof(out->token), "%s", tok);
      snprintf(out->socket, sizeof(out->socket), "%s", sock);
    }
  }
  unsetenv("ECHOD_UPGRADE_FD");
  unsetenv("ECHOD_UPGRADE_TOKEN");
  unsetenv("ECHOD_UPGRADE_SOCKET");
  return rc;
}

void ed_upgrade_child_report(struct ed_upgrade_child *c, const char *line) {
  if (c->status_fd < 0) return;
  char buf[ED_UPGRADE_MSG_MAX];
  int n = snprintf(buf, sizeof(buf), "%s\n", line);
  if (n >= (int)sizeof(buf)) {
    n = (int)sizeof(buf) - 1;
    buf[n - 1] = '\n';
  }
  (void)!write(c->status_fd, buf, n > 0 ? (size_t)n : 0);
  if (strcmp(line, "ready") == 0) {
    close(c->status_fd);
    c->status_fd = -1;
  }
}

void ed_upgrade_sockets_close(struct ed_upgrade_sockets *s) {
  if (s->admin_fd >= 0) close(s->admin_fd);
  if (s->metrics_fd >= 0) close(s->metrics_fd);
  for (size_t i = 0; i < s->num_listen; i++)
    if (s->listen_fds[i] >= 0) close(s->listen_fds[i]);
  s->admin_fd = s->metrics_fd = -1;
  s->num_listen = 0;
}

/* recv_reply reads the one reply line and the descriptors that came with
 * it. Returns the number of descriptors, or -1. */
static int recv_reply(int sock, char *buf, size_t cap, int *fds) {
  char ctl[CMSG_SPACE(sizeof(int) * ED_UPGRADE_MAX_FDS)];
  size_t got = 0;
  int nfds = 0;
  while (got < cap - 1 && !memchr(buf, '\n', got)) {
    struct iovec iov = {.iov_base = buf + got, .iov_len = cap - 1 - got};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl,
                       .msg_controllen = sizeof(ctl)};
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (nfds < ED_UPGRADE_MAX_FDS)
          fds[nfds++] = fd;
        else
          close(fd);
      }
    }
    got += (size_t)n;
    buf[got] = '\0';
  }
  return nfds;
}

static int connect_old(const char *path, char *err, size_t err_len) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {FETCH_TIMEOUT_S, 0};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    snprintf(err, err_len, "upgrade: cannot reach the old process at %s: %s",
             path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

/* take_sockets moves the descriptors into |out| by the reply's list:
 * [{"kind":"listen","addr":...},{"kind":"admin"},{"kind":"metrics"}]. */
static int take_sockets(struct ed_upgrade_sockets *out, const cJSON *result,
                        int *fds, int nfds) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(result, "sockets");
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(result, "pid");
  if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != nfds) return -1;
  out->old_pid = cJSON_IsNumber(pid) ? (pid_t)pid->valuedouble : 0;
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "kind");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "addr");
    const char *kind = cJSON_IsString(k) ? k->valuestring : "";
    int fd = fds[i];
    fds[i++] = -1;
    if (strcmp(kind, "admin") == 0 && out->admin_fd < 0) {
      out->admin_fd = fd;
    } else if (strcmp(kind, "metrics") == 0 && out->metrics_fd < 0) {
      out->metrics_fd = fd;
    } else if (strcmp(kind, "listen") == 0) {
      out->listen_fds[out->num_listen] = fd;
      snprintf(out->listen_addrs[out->num_listen++], 80, "%s",
               cJSON_IsString(a) ? a->valuestring : "");
    } else {
      close(fd);
    }
  }
  return 0;
}

static int parse_reply(struct ed_upgrade_sockets *out, const char *line,
                       int *fds, int nfds, char *err, size_t err_len) {
  cJSON *r = cJSON_Parse(line);
  const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
  int rc = 0;
  if (!cJSON_IsTrue(ok)) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r, "error"), "message");
    snprintf(err, err_len, "upgrade: the old process refused the hand-over: %s",
             cJSON_IsString(m) ? m->valuestring : "unreadable reply");
    rc = ED_E_IO;
  } else if (take_sockets(out, cJSON_GetObjectItemCaseSensitive(r, "result"),
                          fds, nfds) != 0) {
    snprintf(err, err_len,
             "upgrade: the hand-over reply does not match the "
             "sockets it carried");
    rc = ED_E_PARSE;
  }
  cJSON_Delete(r);
  return rc;
}

int ed_upgrade_fetch(const struct ed_upgrade_child *c,
                     struct ed_upgrade_sockets *out, char *err,
                     size_t err_len) {
  memset(out, 0, sizeof(*out));
  out->admin_fd = out->metrics_fd = -1;
  int sock = connect_old(c->socket, err, err_len);
  if (sock < 0) return ED_E_IO;
  char req[200];
  int n = snprintf(req, sizeof(req),
                   "{\"cmd\":\"handover\",\"token\":\"%s\"}\n", c->token);
  char *buf = ed_malloc(REPLY_MAX);
  int fds[ED_UPGRADE_MAX_FDS];
  int nfds = write(sock, req, (size_t)n) == n
                 ? recv_reply(sock, buf, REPLY_MAX, fds)
                 : -1;
  int rc = ED_E_IO;
  if (nfds < 0)
    snprintf(err, err_len, "upgrade: no hand-over reply from %s: %s", c->socket,
             errno ? strerror(errno) : "connection closed");
  else
    rc = parse_reply(out, buf, fds, nfds, err, err_len);
  for (int i = 0; i < nfds; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (rc) ed_upgrade_sockets_close(out);
  free(buf);
  close(sock);
  return rc;
}
