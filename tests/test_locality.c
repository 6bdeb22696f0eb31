/*
 * test_locality.c - the locality report (`vlec derive --locality`, the "locality" object of
 * `vlec derive --format json`; docs/derive.md "Locality"), checked against expectations
 * written here by hand from the derived equations (docs/theory.md §4, §10):
 *  - gle_small (weight transport): the hidden errors read W2ᵀ, W3ᵀ (non-local); the output's
 *    error and W3's rule are local; W1's rule is not (its error is not);
 *  - the same model with `errors = adjoint`: no rule that reads an error is local in time;
 *  - feedback alignment on both back-projections: every error and learned rule local in space
 *    and, under prospective, in time (fully local);
 *  - Kolen–Pollack: B2's rule reads e_h2 (pre), r_h1 (post) and B2 itself.
 * The scheme list is the vocabulary's: every scheme of runtime/vle_vocab.h appears, local in
 * time exactly when its `local` flag says so.
 */
#include <jansson.h>

#include "run_util.h"
#include "../runtime/vocab.h"

TestSuite(locality, .init = ru_setup, .fini = ru_teardown);

static json_t *lo_derive(const char *model) {
  static char out[1 << 21];
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' derive --format json '%s' 2>/dev/null", VLEC_PATH, model);
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  json_error_t err;
  json_t *root = json_loads(out, 0, &err);
  cr_assert(root, "bad JSON: %s", err.text);
  json_t *loc = json_object_get(root, "locality");
  cr_assert(json_is_object(loc));
  json_incref(loc);
  json_decref(root);
  return loc;
}

static json_t *lo_find(json_t *loc, const char *list, const char *key, const char *name) {
  json_t *arr = json_object_get(loc, list), *it;
  size_t i;
  json_array_foreach(arr, i, it)
    if (!strcmp(json_string_value(json_object_get(it, key)), name)) return it;
  cr_assert_fail("no %s entry %s", list, name);
  return NULL;
}
static json_t *lo_err(json_t *loc, const char *pop) {
  return lo_find(loc, "errors", "population", pop);
}
static json_t *lo_rule(json_t *loc, const char *param) {
  return lo_find(loc, "rules", "param", param);
}
static bool lo_bool(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  cr_assert(json_is_boolean(v), "no boolean %s", k);
  return json_is_true(v);
}

/* The class of `factor` in item `it`, or NULL when absent. */
static const char *lo_class(json_t *it, const char *factor) {
  json_t *fs = json_object_get(it, "factors"), *f;
  size_t i;
  json_array_foreach(fs, i, f)
    if (!strcmp(json_string_value(json_object_get(f, "factor")), factor))
      return json_string_value(json_object_get(f, "class"));
  return NULL;
}
static int lo_nfactors(json_t *it) { return (int)json_array_size(json_object_get(it, "factors")); }
static int lo_count_class(json_t *it, const char *cls) {
  json_t *fs = json_object_get(it, "factors"), *f;
  size_t i;
  int n = 0;
  json_array_foreach(fs, i, f) n += !strcmp(json_string_value(json_object_get(f, "class")), cls);
  return n;
}
static bool lo_time(json_t *it, const char *scheme) {
  json_t *s = json_object_get(json_object_get(it, "schemes"), scheme);
  cr_assert(s, "no scheme %s", scheme);
  return lo_bool(s, "local_in_time");
}

/* Every scheme of the vocabulary is reported, local in time by its flag (an error always
 * reads its own scheme's error). */
static void lo_schemes_follow_vocab(json_t *item) {
  json_t *sch = json_object_get(item, "schemes");
  cr_assert_eq((int)json_object_size(sch), VLE_NSCHEMES);
  for (int k = 0; k < VLE_NSCHEMES; k++)
    cr_expect_eq(lo_time(item, vv_scheme((vle_scheme)k)->name), vv_scheme((vle_scheme)k)->local,
                 "%s", vv_scheme((vle_scheme)k)->name);
}

Test(locality, gle_small_weight_transport) {
  json_t *loc = lo_derive(ru_src("examples/gle_small/model.vle"));
  cr_expect_str_eq(json_string_value(json_object_get(loc, "errors_scheme")), "prospective");
  json_t *h1 = lo_err(loc, "h1"), *h2 = lo_err(loc, "h2"), *o = lo_err(loc, "o");
  /* g_h1 = φ′(ŭ_h1) ⊙ W2ᵀ e_h2: own rate, the post error, and the transported weight */
  cr_expect_str_eq(lo_class(h1, "W2\u1d40"), "nonlocal");
  cr_expect_str_eq(lo_class(h1, "e_h2"), "post");
  cr_expect_str_eq(lo_class(h1, "r_h1"), "own");
  cr_expect_eq(lo_count_class(h1, "nonlocal"), 1);
  cr_expect_not(lo_bool(h1, "local_in_space"));
  cr_expect_str_eq(lo_class(h2, "W3\u1d40"), "nonlocal");
  cr_expect_not(lo_bool(h2, "local_in_space"));
  /* g_o = β (y − ŭ_o): own voltage, β and the target global */
  cr_expect_str_eq(lo_class(o, "\u016d_o"), "own");
  cr_expect_str_eq(lo_class(o, "beta"), "global");
  cr_expect_str_eq(lo_class(o, "y"), "global");
  cr_expect_eq(lo_count_class(o, "nonlocal"), 0);
  cr_expect(lo_bool(o, "local_in_space"));
  lo_schemes_follow_vocab(h1);
  /* Ẇ1 = η e_h1 xᵀ: exactly two factors, local themselves, but e_h1 is not */
  json_t *w1 = lo_rule(loc, "W1"), *w3 = lo_rule(loc, "W3");
  cr_expect_eq(lo_nfactors(w1), 2);
  cr_expect_str_eq(lo_class(w1, "x"), "pre");
  cr_expect_str_eq(lo_class(w1, "e_h1"), "post");
  cr_expect_not(lo_bool(w1, "local_in_space"));
  cr_expect_not(lo_bool(w1, "local"));
  /* Ẇ3 = η e_o r_h2ᵀ: local in space and (prospective) in time */
  cr_expect_str_eq(lo_class(w3, "r_h2"), "pre");
  cr_expect_str_eq(lo_class(w3, "e_o"), "post");
  cr_expect(lo_bool(w3, "local_in_space"));
  cr_expect(lo_bool(w3, "local"));
  cr_expect(lo_bool(w3, "learned"));
  lo_schemes_follow_vocab(w3);
  /* τʳ_h1's rule reads g_h1 itself: weight transport inside the rule */
  json_t *tr = lo_rule(loc, "h1.tau_r");
  cr_expect_str_eq(lo_class(tr, "W2\u1d40"), "nonlocal");
  cr_expect_not(lo_bool(tr, "learned"));
  json_decref(loc);
}

/* `text` with its first `from` replaced by `to` (a fresh buffer). */
static char *lo_edit(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  cr_assert(at, "no '%s' in the model", from);
  size_t n = strlen(text) + strlen(to) + 1;
  char *out = malloc(n);
  snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
  return out;
}

static char *lo_gle(void) {
  FILE *f = fopen(ru_src("examples/gle_small/model.vle"), "r");
  cr_assert(f);
  char *text = calloc(1, 8192);
  size_t n = fread(text, 1, 8191, f);
  fclose(f);
  text[n] = 0;
  return text;
}

static const char *lo_gle_with(const char *rel, const char *from, const char *to) {
  char *t = lo_gle(), *e = lo_edit(t, from, to);
  const char *path = ru_write(rel, e);
  free(t);
  free(e);
  return path;
}

Test(locality, adjoint_is_not_local_in_time) {
  json_t *loc = lo_derive(lo_gle_with("adj.vle", "errors = prospective", "errors = adjoint"));
  cr_expect_str_eq(json_string_value(json_object_get(loc, "errors_scheme")), "adjoint");
  const char *rules[] = { "W1", "W2", "W3", "b1", "b2", "b3" };
  for (int i = 0; i < 6; i++) {
    json_t *r = lo_rule(loc, rules[i]);
    cr_expect_not(lo_bool(r, "local_in_time"), "%s", rules[i]);
    cr_expect_not(lo_bool(r, "local"), "%s", rules[i]);
  }
  /* W3 stays local in space: only time breaks it */
  cr_expect(lo_bool(lo_rule(loc, "W3"), "local_in_space"));
  json_decref(loc);
}

#define LO_FA "weight B2[h1, h2] init normal(0, 0.5)\nweight B3[h2, o] init normal(0, 0.5)\n" \
              "feedback W2 = B2\nfeedback W3 = B3\n\ncost C"

Test(locality, feedback_alignment_is_fully_local) {
  json_t *loc = lo_derive(lo_gle_with("fa.vle", "cost C", LO_FA));
  const char *pops[] = { "h1", "h2", "o" };
  for (int i = 0; i < 3; i++) {
    json_t *e = lo_err(loc, pops[i]);
    cr_expect(lo_bool(e, "local_in_space"), "%s", pops[i]);
    cr_expect_eq(lo_count_class(e, "nonlocal"), 0, "%s", pops[i]);
  }
  /* g_h1 = φ′ ⊙ B2 e_h2: B2 is h1's own feedback synapse, e_h2 arrives through it */
  cr_expect_str_eq(lo_class(lo_err(loc, "h1"), "B2"), "own");
  cr_expect_str_eq(lo_class(lo_err(loc, "h1"), "e_h2"), "post");
  cr_expect_null(lo_class(lo_err(loc, "h1"), "W2\u1d40"));
  const char *rules[] = { "W1", "W2", "W3", "b1", "b2", "b3" };
  for (int i = 0; i < 6; i++) {
    json_t *r = lo_rule(loc, rules[i]);
    cr_expect(lo_bool(r, "local"), "%s", rules[i]);
    cr_expect(lo_time(r, "prospective"), "%s", rules[i]);
    cr_expect_not(lo_time(r, "adjoint"), "%s", rules[i]);
  }
  json_decref(loc);
}

Test(locality, kolen_pollack_rule) {
  char *t = lo_gle(), *t1 = lo_edit(t, "cost C", "weight B2[h1, h2] init normal(0, 0.5)\n"
                                    "feedback W2 = B2 with kolen_pollack(0.05)\n\ncost C");
  char *t2 = lo_edit(t1, "learn W1, b1, W2,", "learn W1, b1, W2, B2,");
  json_t *loc = lo_derive(ru_write("kp.vle", t2));
  free(t); free(t1); free(t2);
  json_t *b2 = lo_rule(loc, "B2");
  /* Ḃ2 = η (r_h1 e_h2ᵀ − λ B2): B2[h1, h2] has post h1, pre h2 */
  cr_expect_str_eq(lo_class(b2, "e_h2"), "pre");
  cr_expect_str_eq(lo_class(b2, "r_h1"), "post");
  cr_expect_str_eq(lo_class(b2, "B2"), "own");
  cr_expect_eq(lo_nfactors(b2), 3);
  cr_expect_str_eq(lo_class(lo_rule(loc, "W2"), "W2"), "own");
  json_decref(loc);
}

/* The text form names the classes and the verdicts; latex is refused. */
Test(locality, text_and_refusal) {
  char cmd[1024], out[1 << 16];
  snprintf(cmd, sizeof cmd, "'%s' derive --locality '%s' 2>&1", VLEC_PATH,
           ru_src("examples/gle_small/model.vle"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "error of h1   local in space: no (W2\u1d40: weight transport)\n"), "%s",
            out);
  cr_expect(strstr(out, "rule of W3   local in space: yes\n"), "%s", out);
  cr_expect(strstr(out, "    in time: prospective* yes, instantaneous yes, adjoint no"), "%s", out);
  snprintf(cmd, sizeof cmd, "'%s' derive --locality --format latex '%s' 2>&1", VLEC_PATH,
           ru_src("examples/gle_small/model.vle"));
  cr_expect_eq(tu_sh(cmd, out, sizeof out), 2, "%s", out);
}

/* Equilibrium propagation (tests/data/ep_small.vle): ∂E/∂W1 = −r_h xᵀ reads the pre rate and
 * the post rate, plus the global nudge; no error, no weight transport: local in space, and
 * in time (two forward phases). */
Test(locality, eqprop_is_local) {
  json_t *loc = lo_derive(ru_src("tests/data/ep_small.vle"));
  cr_expect_str_eq(json_string_value(json_object_get(loc, "errors_scheme")), "eqprop");
  json_t *w1 = lo_rule(loc, "W1"), *w2 = lo_rule(loc, "W2"), *b1 = lo_rule(loc, "b1");
  cr_expect_str_eq(lo_class(w1, "x"), "pre");
  cr_expect_str_eq(lo_class(w1, "r_h"), "post");
  cr_expect_str_eq(lo_class(w1, "\u03b2, the phase"), "global");
  cr_expect_eq(lo_nfactors(w1), 3);
  cr_expect_str_eq(lo_class(w2, "r_h"), "pre");
  cr_expect_str_eq(lo_class(w2, "r_o"), "post");
  cr_expect_str_eq(lo_class(b1, "r_h"), "own");
  const char *rules[] = { "W1", "W2", "b1", "b2" };
  for (int i = 0; i < 4; i++) {
    json_t *r = lo_rule(loc, rules[i]);
    cr_expect(lo_bool(r, "local"), "%s", rules[i]);
    cr_expect_eq(lo_count_class(r, "nonlocal"), 0, "%s", rules[i]);
    cr_expect_eq((int)json_object_size(json_object_get(r, "schemes")), 1);
    cr_expect(lo_time(r, "eqprop"), "%s", rules[i]);
  }
  cr_expect_not(lo_bool(lo_err(loc, "h"), "defined"));
  json_decref(loc);
}
