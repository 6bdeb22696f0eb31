/* vle_err.h - filling a vle_error (internal). */
#ifndef VLE_ERR_H
#define VLE_ERR_H

#include "vle.h"

/* Formats the message into err (if not NULL) and returns -1, so `return vle_fail(...)`
 * reports and fails in one line. */
int vle_fail(vle_error *err, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;
/* Prefixes an existing message: "prefix: old message". */
void vle_err_prefix(vle_error *err, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

#endif
