/* internal/bench — parsing a TLS-shaped plain cycle (see shape.h). */
#include "internal/bench/shape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* number reads a decimal count at |*p| (no sign, at most
 * ED_SHAPE_MAX_BYTES) and moves |*p| past it. */
static int number(uint32_t *out, const char **p) {
  if (**p < '0' || **p > '9') return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul(*p, &end, 10);
  if (errno || v > ED_SHAPE_MAX_BYTES) return -1;
  *out = (uint32_t)v;
  *p = end;
  return 0;
}

int ed_shape_parse(struct ed_shape *out, const char *spec, char *err,
                   size_t err_len) {
  memset(out, 0, sizeof(*out));
  const char *p = spec;
  while (*p) {
    if (out->n == ED_SHAPE_MAX_STEPS) {
      snprintf(err, err_len, "shape: at most %d steps", ED_SHAPE_MAX_STEPS);
      return -1;
    }
    int i = out->n;
    if (number(&out->step[i].c, &p) || *p++ != ':' ||
        number(&out->step[i].s, &p)) {
      snprintf(err, err_len,
               "shape: step %d: want CLIENT:SERVER byte counts, as in "
               "244:792,575:0+,54:392,24:24",
               i + 1);
      return -1;
    }
    if (*p == '+') {
      out->step[i].nowait = 1;
      p++;
    }
    if (*p == ',' && p[1])
      p++;
    else if (*p) {
      snprintf(err, err_len, "shape: step %d: unexpected '%c'", i + 1, *p);
      return -1;
    }
    if (out->step[i].c == 0) {
      snprintf(err, err_len,
               "shape: step %d: the client must write at least one byte",
               i + 1);
      return -1;
    }
    out->c_total += out->step[i].c;
    out->s_total += out->step[i].s;
    out->step[i].c_end = out->c_total;
    out->step[i].s_end = out->s_total;
    out->n++;
  }
  if (out->n == 0) {
    snprintf(err, err_len, "shape: no steps");
    return -1;
  }
  if (out->step[out->n - 1].nowait) {
    snprintf(err, err_len, "shape: the last step must wait for its answer");
    return -1;
  }
  if (out->c_total > ED_SHAPE_MAX_BYTES || out->s_total > ED_SHAPE_MAX_BYTES) {
    snprintf(err, err_len, "shape: at most %d bytes each way",
             ED_SHAPE_MAX_BYTES);
    return -1;
  }
  return 0;
}
