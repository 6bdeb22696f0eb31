/*
 * parse.h - the parser's context and the node builders its actions call (prefix ps_).
 *
 * The lexer (lexer.l) and the parser (parser.y) are reentrant: all their state is in one
 * ps_ctx, reached from the parser through %param and from the lexer through yyextra.
 * Grammar actions only call the builders below, so parser.y stays a readable grammar.
 */
#ifndef VLE_PARSE_H
#define VLE_PARSE_H

#include <stdbool.h>
#include "ast.h"

typedef struct ps_ctx {
  vl_arena *arena;
  dg_ctx *dg;
  const vl_source *src;
  vl_vec *decls;           /* parsed declarations are appended here */
  int line, col;           /* lexer: position of the next character (1-based) */
  long off;                /* lexer: byte offset of the next character */
  long tok_off, tok_len;   /* lexer: the last token returned, for error messages */
  int nest;                /* lexer: ( [ { currently open */
  bool fatal;              /* a limit was hit: the lexer reports end of input from now on */
} ps_ctx;

/* The location type of the parser: first/last line and column, last_column exclusive. */
typedef struct ps_loc {
  int first_line, first_column, last_line, last_column;
} ps_loc;

/* Parse src, appending its declarations to out. False if any error was reported. */
bool ps_parse(vl_arena *a, dg_ctx *d, const vl_source *src, vl_vec *out);

/* Source span of a parser location. */
vl_span ps_span(ps_ctx *c, ps_loc l);
/* Stop the parse after a limit was exceeded (the error is already reported). */
void ps_fatal(ps_ctx *c);

/* ---- expression builders: each sets the span and the tree height ------------------ */
vl_expr *ps_num(ps_ctx *c, ps_loc l, double v);
vl_expr *ps_str(ps_ctx *c, ps_loc l, const char *s);
vl_expr *ps_name(ps_ctx *c, ps_loc l, const char *name);
vl_expr *ps_binary(ps_ctx *c, ps_loc l, char op, vl_expr *lhs, vl_expr *rhs);
vl_expr *ps_unary(ps_ctx *c, ps_loc l, vl_expr_kind k, vl_expr *arg);
vl_expr *ps_field(ps_ctx *c, ps_loc l, vl_expr *arg, const char *field);
vl_expr *ps_call(ps_ctx *c, ps_loc l, const char *callee, vl_vec *args);
vl_expr *ps_vec(ps_ctx *c, ps_loc l, vl_vec *elems);

/* ---- lists ------------------------------------------------------------------------- */
vl_vec *ps_list(ps_ctx *c, void *first);          /* a new list, first may be NULL */
vl_vec *ps_append(ps_ctx *c, vl_vec *l, void *item);
vl_field *ps_kv(ps_ctx *c, ps_loc keyloc, const char *key, vl_expr *value);
const char *ps_lexeme(ps_ctx *c);                 /* text of the last token (<= 40 bytes) */

/* ---- declarations: created, appended to the output, returned for the caller to fill - */
vl_decl *ps_decl(ps_ctx *c, vl_decl_kind k, ps_loc kw, const char *name, ps_loc nameloc);
void ps_set_fields(ps_ctx *c, vl_decl *d, vl_vec *fields);
void ps_set_params(ps_ctx *c, vl_decl *d, vl_vec *names, vl_vec *spans);
void ps_set_learn(ps_ctx *c, vl_decl *d, vl_vec *items, vl_expr *opt);
vl_span *ps_spanp(ps_ctx *c, ps_loc l);           /* an arena copy, for span lists */

#endif
