/* vle_err.c - filling a vle_error. */
#include "vle_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vle_fail(vle_error *err, const char *fmt, ...) {
  if (!err) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

void vle_err_prefix(vle_error *err, const char *fmt, ...) {
  if (!err) return;
  char pre[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  size_t np = strlen(pre), cap = sizeof err->msg;
  if (np + 2 >= cap) return;
  size_t nold = strnlen(err->msg, cap - 1);
  if (np + 2 + nold >= cap) nold = cap - 1 - np - 2;   /* keep the start of the old message */
  memmove(err->msg + np + 2, err->msg, nold);
  memcpy(err->msg, pre, np);
  memcpy(err->msg + np, ": ", 2);
  err->msg[np + 2 + nold] = 0;
}
