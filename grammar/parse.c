/* parse.c - the parser's driver and node builders; see parse.h. */
#include "parse.h"

#include <string.h>

#include "frontend.h"
#include "parser.h"
#define YYSTYPE VLYYSTYPE
#define YYLTYPE VLYYLTYPE
#include "lexer.h"

bool ps_parse(vl_arena *a, dg_ctx *d, const vl_source *src, vl_vec *out) {
  ps_ctx c = { .arena = a, .dg = d, .src = src, .decls = out, .line = 1, .col = 1 };
  int errors = d->errors;
  yyscan_t scanner;
  if (vlyylex_init_extra(&c, &scanner)) {
    dg_plain(d, "%s: cannot start the lexer", src->path);
    return false;
  }
  /* yy_scan_bytes copies the text, so embedded NUL bytes are scanned (and reported). */
  vlyy_scan_bytes(src->text, (int)src->len, scanner);
  vlyyparse(scanner, &c);
  vlyylex_destroy(scanner);
  return d->errors == errors;
}

/* A span lies on one line: a location that spans lines is cut at the end of its first
 * line (the caret printer clamps the length to the line). */
vl_span ps_span(ps_ctx *c, ps_loc l) {
  vl_span s = { c->src, l.first_line, l.first_column, 1 };
  if (l.last_line == l.first_line && l.last_column > l.first_column)
    s.len = l.last_column - l.first_column;
  else if (l.last_line != l.first_line)
    s.len = 1 << 20;
  return s;
}

void ps_fatal(ps_ctx *c) { c->fatal = true; }

/* The text of the token the lexer returned last: the parser's lookahead when it reports a
 * syntax error (it is kept as an offset, so no line has to be searched for). */
const char *ps_lexeme(ps_ctx *c) {
  long n = c->tok_len < 40 ? c->tok_len : 40;
  if (c->tok_off + n > c->src->len) n = 0;
  return ar_strndup(c->arena, c->src->text + c->tok_off, (size_t)n);
}

/* ---- expressions --------------------------------------------------------------------- */

static vl_expr *ps_new(ps_ctx *c, ps_loc l, vl_expr_kind k) {
  vl_expr *e = AR_NEW(c->arena, vl_expr);
  e->kind = k;
  e->span = ps_span(c, l);
  e->depth = 1;
  return e;
}

/* Record the height of e from a child, stopping the parse when it becomes absurd: every
 * later pass recurses over the tree, and this is what bounds their stack use. */
static void ps_height(ps_ctx *c, vl_expr *e, const vl_expr *child) {
  if (!child || child->depth + 1 <= e->depth) return;
  e->depth = child->depth + 1;
  if (e->depth == FE_MAX_DEPTH + 1 && !c->fatal) {
    dg_error(c->dg, e->span, "expression too deeply nested or too long (more than %d levels)",
             FE_MAX_DEPTH);
    ps_fatal(c);
  }
}

vl_expr *ps_num(ps_ctx *c, ps_loc l, double v) {
  vl_expr *e = ps_new(c, l, EX_NUM);
  e->num = v;
  return e;
}

vl_expr *ps_str(ps_ctx *c, ps_loc l, const char *s) {
  vl_expr *e = ps_new(c, l, EX_STR);
  e->name = s;
  return e;
}

vl_expr *ps_name(ps_ctx *c, ps_loc l, const char *name) {
  vl_expr *e = ps_new(c, l, EX_NAME);
  e->name = name;
  return e;
}

vl_expr *ps_binary(ps_ctx *c, ps_loc l, char op, vl_expr *lhs, vl_expr *rhs) {
  vl_expr *e = ps_new(c, l, EX_BINARY);
  e->op = op;
  e->lhs = lhs;
  e->rhs = rhs;
  ps_height(c, e, lhs);
  ps_height(c, e, rhs);
  return e;
}

vl_expr *ps_unary(ps_ctx *c, ps_loc l, vl_expr_kind k, vl_expr *arg) {
  vl_expr *e = ps_new(c, l, k);
  e->lhs = arg;
  ps_height(c, e, arg);
  return e;
}

vl_expr *ps_field(ps_ctx *c, ps_loc l, vl_expr *arg, const char *field) {
  vl_expr *e = ps_unary(c, l, EX_FIELD, arg);
  e->name = field;
  return e;
}

/* Calls and vectors keep their arguments as a plain array. */
static void ps_set_args(ps_ctx *c, vl_expr *e, vl_vec *args) {
  e->nargs = args->len;
  e->args = (vl_expr **)args->items;
  for (int i = 0; i < e->nargs; i++) ps_height(c, e, e->args[i]);
}

vl_expr *ps_call(ps_ctx *c, ps_loc l, const char *callee, vl_vec *args) {
  vl_expr *e = ps_new(c, l, EX_CALL);
  e->name = callee;
  ps_set_args(c, e, args);
  return e;
}

vl_expr *ps_vec(ps_ctx *c, ps_loc l, vl_vec *elems) {
  vl_expr *e = ps_new(c, l, EX_VEC);
  ps_set_args(c, e, elems);
  return e;
}

/* ---- lists ----------------------------------------------------------------------------- */

vl_vec *ps_list(ps_ctx *c, void *first) {
  vl_vec *v = AR_NEW(c->arena, vl_vec);
  if (first) vec_push(c->arena, v, first);
  return v;
}

vl_vec *ps_append(ps_ctx *c, vl_vec *l, void *item) {
  vec_push(c->arena, l, item);
  return l;
}

vl_field *ps_kv(ps_ctx *c, ps_loc keyloc, const char *key, vl_expr *value) {
  vl_field *f = AR_NEW(c->arena, vl_field);
  f->key = key;
  f->key_span = ps_span(c, keyloc);
  f->value = value;
  return f;
}

vl_span *ps_spanp(ps_ctx *c, ps_loc l) {
  vl_span *s = AR_NEW(c->arena, vl_span);
  *s = ps_span(c, l);
  return s;
}

/* ---- declarations ------------------------------------------------------------------- */

vl_decl *ps_decl(ps_ctx *c, vl_decl_kind k, ps_loc kw, const char *name, ps_loc nameloc) {
  vl_decl *d = AR_NEW(c->arena, vl_decl);
  d->kind = k;
  d->span = ps_span(c, kw);
  d->name = name;
  d->name_span = ps_span(c, nameloc);
  d->file = c->src;
  d->phi = BI_LINEAR;
  vec_push(c->arena, c->decls, d);
  return d;
}

/* Fields are copied into a flat array (vl_decl.fields). */
void ps_set_fields(ps_ctx *c, vl_decl *d, vl_vec *fields) {
  d->nfields = fields->len;
  d->fields = AR_NEWN(c->arena, vl_field, fields->len ? fields->len : 1);
  for (int i = 0; i < fields->len; i++) d->fields[i] = *(vl_field *)fields->items[i];
}

/* Parameters arrive as EX_NAME nodes (name + span); spans is unused and may be NULL. */
void ps_set_params(ps_ctx *c, vl_decl *d, vl_vec *names, vl_vec *spans) {
  (void)spans;
  d->nparams = names->len;
  d->params = AR_NEWN(c->arena, const char *, names->len ? names->len : 1);
  d->param_spans = AR_NEWN(c->arena, vl_span, names->len ? names->len : 1);
  for (int i = 0; i < names->len; i++) {
    vl_expr *p = names->items[i];
    d->params[i] = p->name;
    d->param_spans[i] = p->span;
  }
}

void ps_set_learn(ps_ctx *c, vl_decl *d, vl_vec *items, vl_expr *opt) {
  d->nitems = items->len;
  d->items = AR_NEWN(c->arena, vl_learn_item, items->len ? items->len : 1);
  for (int i = 0; i < items->len; i++) d->items[i].ref = items->items[i];
  d->opt_call = opt;
}
