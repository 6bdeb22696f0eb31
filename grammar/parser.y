/*
 * parser.y - the grammar of a .vle file (docs/language.md).
 *
 * A pure, reentrant LALR(1) parser: all state is in the ps_ctx passed with %param; actions
 * only call the ps_ builders of parse.c. Newlines never reach the parser (see lexer.l).
 *
 * Error recovery is at the level of declarations: after a syntax error the parser skips
 * to the next declaration keyword, and every completed declaration re-arms error
 * reporting (yyerrok), so independent errors in different declarations are all reported.
 *
 * Messages: parse.error is `custom`, which gives the same information as `detailed` (the
 * unexpected token and the expected ones, made exact by LAC) but lets yyreport_syntax_error
 * below summarise the usual sets ("expected an expression") instead of listing 8 tokens.
 *
 * Nesting: the lexer caps open brackets at FE_MAX_NEST, ps_ builders cap the height of an
 * expression tree at FE_MAX_DEPTH, and YYMAXDEPTH caps the parser stack (unary minus
 * chains), each with its own clear error; after any of them the parse stops.
 */
%require "3.8"
%define api.pure full
%define api.prefix {vlyy}
%define api.location.type {ps_loc}
%define parse.error custom
%define parse.lac full
%define lr.default-reduction consistent
%locations
/* The scanner is flex's yyscan_t; the lexer reaches the same ps_ctx through yyextra. */
%lex-param {void *scanner}
%parse-param {void *scanner} {ps_ctx *ctx}

%code requires {
#include "parse.h"
}

%code provides {
int vlyylex(VLYYSTYPE *yylval, VLYYLTYPE *yylloc, void *scanner);
}

%code {
#include <string.h>

/* Deep enough for any sane model, small enough that hostile nesting fails fast. */
#define YYMAXDEPTH 2000
#define YYINITDEPTH 200

/* The parser's only non-syntax error: the stack limit ("memory exhausted"). */
static void vlyyerror(VLYYLTYPE *l, void *scanner, ps_ctx *ctx, const char *msg) {
  (void)scanner;
  if (ctx->fatal) return;
  if (strstr(msg, "exhausted"))
    dg_error(ctx->dg, ps_span(ctx, *l), "expression nested too deeply");
  else
    dg_error(ctx->dg, ps_span(ctx, *l), "%s", msg);
  ps_fatal(ctx);
}
}

%union {
  double num;
  const char *str;
  vl_expr *expr;
  vl_decl *decl;
  vl_vec *list;
  vl_field *field;
  int cmp;
}

%token T_MODEL "model" T_USE "use" T_CONST "const" T_INPUT "input" T_TARGET "target"
%token T_POPULATION "population" T_WEIGHT "weight" T_BIAS "bias" T_FN "fn" T_LET "let"
%token T_COST "cost" T_ENERGY "energy" T_LEARN "learn" T_WITH "with" T_CLAMP "clamp"
%token T_SETTINGS "settings" T_INIT "init" T_FEEDBACK "feedback"
%token T_GE ">=" T_LE "<="
%token <str> T_IDENT "name"
%token <num> T_NUM "number"
%token <str> T_STRING "string"

%type <expr> expr postfix primary opt_default opt_init opt_onehot opt_rule
%type <list> args arg_list fields field_list learn_items param_list params
%type <field> field
%type <decl> decl
%type <cmp> cmp

/* Loosest first (language.md 4). Postfix ' . and calls bind tightest by the grammar. */
%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right '^'

%%

/* file: {decl} */
file
  : %empty
  | file decl_start decl
  | file error
  ;

/* decl_start: nothing, reduced when the next token starts a declaration. After a syntax
 * error this re-arms error reporting at once (bison would otherwise stay silent for three
 * tokens, hiding an error early in the next declaration). It is reduced only on the
 * declaration keywords because default reductions are limited to consistent states. */
decl_start
  : %empty                      { yyerrok; }
  ;

/* decl: one declaration; each starts with its keyword */
decl
  : "model" "name"              { $$ = ps_decl(ctx, D_MODEL, @1, $2, @2); }
  | "use" "string"              { $$ = ps_decl(ctx, D_USE, @1, NULL, @2); $$->use_path = $2; }
  | "use" "name" '.' "name"     {
      $$ = ps_decl(ctx, D_USE, @1, NULL, @4);
      $$->use_std = $4;
      if (strcmp($2, "std"))
        dg_error(ctx->dg, ps_span(ctx, @2), "expected \"path.vle\" or std.NAME after use");
    }
  | "const" "name" '=' expr     { $$ = ps_decl(ctx, D_CONST, @1, $2, @2); $$->value = $4; }
  | "input" "name" '[' expr ']' opt_default opt_onehot {
      $$ = ps_decl(ctx, D_INPUT, @1, $2, @2);
      $$->size_expr = $4; $$->value = $6;
      if ($7) { $$->onehot = true; $$->onehot_span = $7->span; }
    }
  | "target" "name" '[' expr ']' opt_default opt_onehot {
      $$ = ps_decl(ctx, D_TARGET, @1, $2, @2);
      $$->size_expr = $4; $$->value = $6;
      if ($7) { $$->onehot = true; $$->onehot_span = $7->span; }
    }
  | "population" "name" '[' expr ']' '{' fields '}' {
      $$ = ps_decl(ctx, D_POP, @1, $2, @2);
      $$->size_expr = $4;
      ps_set_fields(ctx, $$, $7);
    }
  | "weight" "name" '[' "name" ',' "name" ']' opt_init {
      $$ = ps_decl(ctx, D_WEIGHT, @1, $2, @2);
      $$->post_name = $4; $$->post_span = ps_span(ctx, @4);
      $$->pre_name = $6;  $$->pre_span = ps_span(ctx, @6);
      $$->init = $8;
    }
  | "bias" "name" '[' "name" ']' opt_init {
      $$ = ps_decl(ctx, D_BIAS, @1, $2, @2);
      $$->post_name = $4; $$->post_span = ps_span(ctx, @4);
      $$->init = $6;
    }
  | "fn" "name" '(' params ')' '=' expr {
      $$ = ps_decl(ctx, D_FN, @1, $2, @2);
      ps_set_params(ctx, $$, $4, NULL);
      $$->value = $7;
    }
  | "let" "name" '=' expr       { $$ = ps_decl(ctx, D_LET, @1, $2, @2); $$->value = $4; }
  | "cost" "name" '=' expr      { $$ = ps_decl(ctx, D_COST, @1, $2, @2); $$->value = $4; }
  | "energy" '=' expr           { $$ = ps_decl(ctx, D_ENERGY, @1, NULL, @1); $$->value = $3; }
  | "learn" learn_items "with" expr {
      $$ = ps_decl(ctx, D_LEARN, @1, NULL, @1);
      ps_set_learn(ctx, $$, $2, $4);
    }
  | "learn" learn_items "with" expr "clamp" cmp expr {
      $$ = ps_decl(ctx, D_LEARN, @1, NULL, @1);
      ps_set_learn(ctx, $$, $2, $4);
      $$->clamp_op = (vl_cmp)$6;
      $$->clamp_value = $7;
    }
  | "feedback" "name" '=' "name" opt_rule {
      $$ = ps_decl(ctx, D_FEEDBACK, @1, NULL, @2);
      $$->fb_w_name = $2; $$->fb_w_span = ps_span(ctx, @2);
      $$->fb_b_name = $4; $$->fb_b_span = ps_span(ctx, @4);
      $$->fb_rule = $5;
    }
  | "settings" '{' fields '}'   { $$ = ps_decl(ctx, D_SETTINGS, @1, NULL, @1); ps_set_fields(ctx, $$, $3); }
  ;

/* opt_default: ['=' expr] */
opt_default
  : %empty                      { $$ = NULL; }
  | '=' expr                    { $$ = $2; }
  ;

/* opt_onehot: ['onehot'] ; a contextual word, not a keyword */
opt_onehot
  : %empty                      { $$ = NULL; }
  | "name"                      {
      $$ = ps_name(ctx, @1, $1);
      if (strcmp($1, "onehot"))
        dg_error(ctx->dg, ps_span(ctx, @1), "unexpected name '%s', expected onehot or a declaration", $1);
    }
  ;

/* opt_rule: ['with' expr] ; the checker wants kolen_pollack(lambda) */
opt_rule
  : %empty                      { $$ = NULL; }
  | "with" expr                 { $$ = $2; }
  ;

/* opt_init: ['init' expr] ; the checker wants a name or a call */
opt_init
  : %empty                      { $$ = NULL; }
  | "init" expr                 { $$ = $2; }
  ;

/* fields: {field [';']} ; items of population and settings blocks */
fields
  : %empty                      { $$ = ps_list(ctx, NULL); }
  | field_list                  { $$ = $1; }
  ;

field_list
  : field                       { $$ = ps_list(ctx, $1); }
  | field_list ';'              { $$ = $1; }
  | field_list field            { $$ = ps_append(ctx, $1, $2); }
  ;

/* field: name '=' expr */
field
  : "name" '=' expr             { $$ = ps_kv(ctx, @1, $1, $3); }
  ;

/* params: [name {',' name}] */
params
  : %empty                      { $$ = ps_list(ctx, NULL); }
  | param_list                  { $$ = $1; }
  ;

param_list
  : "name"                      { $$ = ps_list(ctx, ps_name(ctx, @1, $1)); }
  | param_list ',' "name"       { $$ = ps_append(ctx, $1, ps_name(ctx, @3, $3)); }
  ;

/* learn_items: expr {',' expr} ; the checker wants W, b or pop.tau_m / pop.tau_r */
learn_items
  : expr                        { $$ = ps_list(ctx, $1); }
  | learn_items ',' expr        { $$ = ps_append(ctx, $1, $3); }
  ;

/* cmp: '>=' | '>' | '<=' | '<' */
cmp
  : ">="                        { $$ = CMP_GE; }
  | '>'                         { $$ = CMP_GT; }
  | "<="                        { $$ = CMP_LE; }
  | '<'                         { $$ = CMP_LT; }
  ;

/* expr: expr binop expr | '-' expr | postfix ; precedence from the table above */
expr
  : expr '+' expr               { $$ = ps_binary(ctx, @$, '+', $1, $3); }
  | expr '-' expr               { $$ = ps_binary(ctx, @$, '-', $1, $3); }
  | expr '*' expr               { $$ = ps_binary(ctx, @$, '*', $1, $3); }
  | expr '/' expr               { $$ = ps_binary(ctx, @$, '/', $1, $3); }
  | expr '@' expr               { $$ = ps_binary(ctx, @$, '@', $1, $3); }
  | expr '^' expr               { $$ = ps_binary(ctx, @$, '^', $1, $3); }
  | '-' expr %prec NEG          { $$ = ps_unary(ctx, @$, EX_NEG, $2); }
  | postfix                     { $$ = $1; }
  ;

/* postfix: primary | postfix '\'' | postfix '.' name | name '(' args ')' */
postfix
  : primary                     { $$ = $1; }
  | postfix '\''                { $$ = ps_unary(ctx, @$, EX_DERIV, $1); }
  | postfix '.' "name"          { $$ = ps_field(ctx, @$, $1, $3); }
  | "name" '(' args ')'         { $$ = ps_call(ctx, @$, $1, $3); }
  ;

/* primary: number | string | name | '(' expr ')' | '[' expr {',' expr} ']' | '|' expr '|' */
primary
  : "number"                    { $$ = ps_num(ctx, @1, $1); }
  | "string"                    { $$ = ps_str(ctx, @1, $1); }
  | "name"                      { $$ = ps_name(ctx, @1, $1); }
  | '(' expr ')'                { $$ = $2; }
  | '[' arg_list ']'            { $$ = ps_vec(ctx, @$, $2); }
  | '|' expr '|'                { $$ = ps_unary(ctx, @$, EX_NORM, $2); }
  ;

/* args: [expr {',' expr}] */
args
  : %empty                      { $$ = ps_list(ctx, NULL); }
  | arg_list                    { $$ = $1; }
  ;

arg_list
  : expr                        { $$ = ps_list(ctx, $1); }
  | arg_list ',' expr           { $$ = ps_append(ctx, $1, $3); }
  ;

%%

/* ---- syntax error messages ---------------------------------------------------------
 * "unexpected X, expected A, B or C". The lexeme is shown for names and numbers; the
 * usual sets are summarised ("an expression", "an operator", "a declaration") instead of
 * listed one token at a time. */

typedef struct ps_group {
  const char *label;
  const char *names[16];                 /* NULL-terminated yysymbol_name()s */
} ps_group;

static const ps_group ps_groups[] = {
  { "an expression", { "name", "number", "string", "'('", "'['", "'|'", "'-'", NULL } },
  { "an operator", { "'+'", "'-'", "'*'", "'/'", "'@'", "'^'", "'.'", "'\\''", NULL } },
  { "a declaration", { "model", "use", "const", "input", "target", "population", "weight",
                       "bias", "fn", "let", "cost", "energy", "learn", "settings", "feedback",
                       NULL } },
};
enum { PS_NGROUPS = sizeof ps_groups / sizeof ps_groups[0] };

static int ps_find(const yysymbol_kind_t *v, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (v[i] != YYSYMBOL_YYEMPTY && !strcmp(yysymbol_name(v[i]), name)) return i;
  return -1;
}

/* Replace every complete group in v by its label (its tokens become YYEMPTY). */
static int ps_summarise(yysymbol_kind_t *v, int n, const char **labels) {
  int nl = 0;
  for (int g = 0; g < PS_NGROUPS; g++) {
    bool all = true;
    for (const char *const *s = ps_groups[g].names; *s && all; s++) all = ps_find(v, n, *s) >= 0;
    if (!all) continue;
    labels[nl++] = ps_groups[g].label;
    for (const char *const *s = ps_groups[g].names; *s; s++) v[ps_find(v, n, *s)] = YYSYMBOL_YYEMPTY;
  }
  return nl;
}

/* How a token is named in messages: keywords and punctuation quoted, classes plain. */
static void ps_put_symbol(FILE *f, yysymbol_kind_t k) {
  const char *s = yysymbol_name(k);
  if (k == YYSYMBOL_YYEOF) fputs("end of file", f);
  else if (k == YYSYMBOL_T_IDENT || k == YYSYMBOL_T_NUM || k == YYSYMBOL_T_STRING) fputs(s, f);
  else if (!strcmp(s, "'\\''")) fputs("\"'\"", f);   /* the prime, not '\'' */
  else if (s[0] == '\'' || s[0] == '"') fputs(s, f);
  else fprintf(f, "'%s'", s);
}

/* "unexpected X" with the lexeme of names and numbers. */
static void ps_put_unexpected(FILE *f, ps_ctx *ctx, yysymbol_kind_t tok) {
  fputs("unexpected ", f);
  ps_put_symbol(f, tok);
  if (tok == YYSYMBOL_T_IDENT || tok == YYSYMBOL_T_NUM) fprintf(f, " '%s'", ps_lexeme(ctx));
}

/* ", expected L1, T1 or T2": the group labels first, then the tokens no group took. */
static void ps_put_expected(FILE *f, const yysymbol_kind_t *v, int n, const char **labels, int nl) {
  int total = nl, k = 0;
  for (int i = 0; i < n; i++) total += v[i] != YYSYMBOL_YYEMPTY;
  for (int i = 0; i < nl + n; i++) {
    if (i >= nl && v[i - nl] == YYSYMBOL_YYEMPTY) continue;
    fputs(k == 0 ? ", expected " : k == total - 1 ? " or " : ", ", f);
    k++;
    if (i < nl) fputs(labels[i], f);
    else ps_put_symbol(f, v[i - nl]);
  }
}

static int yyreport_syntax_error(const yypcontext_t *pc, void *scanner, ps_ctx *ctx) {
  (void)scanner;
  if (ctx->fatal) return 0;          /* the real error was reported already */
  yysymbol_kind_t exp[YYNTOKENS];
  int n = yypcontext_expected_tokens(pc, exp, YYNTOKENS);
  if (n < 0) n = 0;
  const char *labels[PS_NGROUPS];
  int nl = ps_summarise(exp, n, labels);

  char *msg = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&msg, &len);
  if (!f) return 0;
  const VLYYLTYPE *l = yypcontext_location(pc);
  ps_put_unexpected(f, ctx, yypcontext_token(pc));
  ps_put_expected(f, exp, n, labels, nl);
  fclose(f);
  dg_error(ctx->dg, ps_span(ctx, *l), "%s", msg);
  free(msg);
  return 0;
}
