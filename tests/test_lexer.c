/* test_lexer.c - tokens, their values and their locations. */
#include <criterion/criterion.h>

#include "parse.h"
#include "parser.h"
#define YYSTYPE VLYYSTYPE
#define YYLTYPE VLYYLTYPE
#include "lexer.h"
#include "test_util.h"

typedef struct tl_tok {
  int kind;
  VLYYSTYPE val;
  ps_loc loc;
} tl_tok;

/* Lex text into toks (at most cap); returns the count. Diagnostics go to *diag. */
static int tl_lex(const char *text, long len, tl_tok *toks, int cap, char **diag, vl_arena *a) {
  size_t dlen;
  FILE *f = open_memstream(diag, &dlen);
  dg_ctx d;
  dg_init(&d, f);
  vl_source src = { "t.vle", text, len };
  ps_ctx c = { .arena = a, .dg = &d, .src = &src, .line = 1, .col = 1 };
  yyscan_t s;
  vlyylex_init_extra(&c, &s);
  vlyy_scan_bytes(text, (int)len, s);
  int n = 0;
  while (n < cap) {
    tl_tok *t = &toks[n++];
    t->kind = vlyylex(&t->val, &t->loc, s);
    if (t->kind == 0) break;
  }
  vlyylex_destroy(s);
  fclose(f);
  return n;
}

Test(lexer, keywords_names_numbers) {
  vl_arena a;
  ar_init(&a);
  tl_tok t[32];
  char *diag;
  const char *text = "model modelx _a1 12 0.5 1e-3 2.5E+2 \"p.vle\" >= <= @ ' |";
  int n = tl_lex(text, (long)strlen(text), t, 32, &diag, &a);
  int want[] = { T_MODEL, T_IDENT, T_IDENT, T_NUM, T_NUM, T_NUM, T_NUM, T_STRING, T_GE, T_LE,
                 '@', '\'', '|', 0 };
  cr_assert_eq(n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < n; i++) cr_expect_eq(t[i].kind, want[i], "token %d", i);
  cr_expect_str_eq(t[1].val.str, "modelx");
  cr_expect_eq(t[3].val.num, 12);
  cr_expect_eq(t[4].val.num, 0.5);
  cr_expect_eq(t[5].val.num, 1e-3);
  cr_expect_eq(t[6].val.num, 250);
  cr_expect_str_eq(t[7].val.str, "p.vle");
  cr_expect_str_eq(diag, "");
  free(diag);
  ar_free_all(&a);
}

Test(lexer, every_keyword) {
  vl_arena a;
  ar_init(&a);
  tl_tok t[32];
  char *diag;
  const char *text = "model use const input target population weight bias fn let cost energy "
                     "learn with clamp settings init feedback";
  int n = tl_lex(text, (long)strlen(text), t, 32, &diag, &a);
  int want[] = { T_MODEL, T_USE, T_CONST, T_INPUT, T_TARGET, T_POPULATION, T_WEIGHT, T_BIAS,
                 T_FN, T_LET, T_COST, T_ENERGY, T_LEARN, T_WITH, T_CLAMP, T_SETTINGS, T_INIT, T_FEEDBACK, 0 };
  cr_assert_eq(n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < n; i++) cr_expect_eq(t[i].kind, want[i], "token %d", i);
  free(diag);
  ar_free_all(&a);
}

Test(lexer, locations_and_comments) {
  vl_arena a;
  ar_init(&a);
  tl_tok t[8];
  char *diag;
  const char *text = "# comment \xff\xfe\n  abc # x\n\tW1@x";
  int n = tl_lex(text, (long)strlen(text), t, 8, &diag, &a);
  cr_assert_eq(n, 5);
  cr_expect_eq(t[0].loc.first_line, 2);
  cr_expect_eq(t[0].loc.first_column, 3);
  cr_expect_eq(t[0].loc.last_column, 6);
  cr_expect_eq(t[1].loc.first_line, 3);
  cr_expect_eq(t[1].loc.first_column, 2);
  cr_expect_eq(t[2].loc.first_column, 4);
  cr_expect_eq(t[4].kind, 0);
  cr_expect_str_eq(diag, "");
  free(diag);
  ar_free_all(&a);
}

Test(lexer, bad_bytes_are_reported_and_skipped) {
  vl_arena a;
  ar_init(&a);
  tl_tok t[8];
  char *diag;
  const char text[] = "a $ \x01 \xc3\xa9 \0 b";
  int n = tl_lex(text, (long)sizeof text - 1, t, 8, &diag, &a);
  cr_assert_eq(n, 3);                         /* a b EOF */
  cr_expect(strstr(diag, "t.vle:1:3: error: unexpected character '$'"), "%s", diag);
  cr_expect(strstr(diag, "t.vle:1:5: error: unexpected control character 0x01"), "%s", diag);
  cr_expect(strstr(diag, "t.vle:1:7: error: non-ASCII text outside a comment or string"), "%s", diag);
  cr_expect(strstr(diag, "t.vle:1:10: error: unexpected NUL byte"), "%s", diag);
  free(diag);
  ar_free_all(&a);
}

Test(lexer, unterminated_string_and_huge_number) {
  vl_arena a;
  ar_init(&a);
  tl_tok t[8];
  char *diag;
  const char *text = "use \"abc\n1e999";
  tl_lex(text, (long)strlen(text), t, 8, &diag, &a);
  cr_expect(strstr(diag, "t.vle:1:5: error: unterminated string"), "%s", diag);
  cr_expect(strstr(diag, "t.vle:2:1: error: number out of range"), "%s", diag);
  free(diag);
  ar_free_all(&a);
}
