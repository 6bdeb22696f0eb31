/*
 * locality.h - the locality report (docs/derive.md "Locality", theory.md §10): for every
 * derived error and every plasticity rule, each factor classified as presynaptic,
 * postsynaptic, the neuron's own, global, or non-local, and per rule and error scheme
 * whether it is local in space and in time. Prefix lc_.
 *
 * Expects: a derived system (derive.h). Reads only its symbolic expressions (g, q, a, b of
 * every population, G of every parameter) and the error schemes of the shared vocabulary
 * (runtime/vle_vocab.h): a scheme's time locality is its `local` flag, so a scheme added to
 * that list appears in the report without a change here.
 * Guarantees: every leaf and every matrix product of those expressions is classified (a leaf
 * kind the report does not know is a compile-time warning in lc_leaf, never silently local);
 * everything lives in the system's arena.
 */
#ifndef VLE_LOCALITY_H
#define VLE_LOCALITY_H

#include <stdbool.h>
#include <stdio.h>
#include "derive.h"

/* The classes of a factor: X(ID, "json name", "meaning"). Only NONLOCAL breaks locality. */
#define LC_CLASSES(X)                                                                      \
  X(PRE, "pre", "presynaptic rate or signal")                                              \
  X(POST, "post", "postsynaptic state or error")                                           \
  X(OWN, "own", "the neuron's (or the synapse's) own state")                               \
  X(GLOBAL, "global", "global or neuromodulatory signal (beta, the cost, a setting)")      \
  X(NONLOCAL, "nonlocal", "non-local: weight transport, another neuron's private state")

#define LC_CLASS_ENUM_(id, name, what) LC_##id,
typedef enum { LC_CLASSES(LC_CLASS_ENUM_) LC_NCLASSES } lc_class;

const char *lc_class_name(lc_class c);
const char *lc_class_meaning(lc_class c);

typedef struct lc_factor {
  lc_class cls;
  const char *what;        /* the factor as printed: "r_h1", "W2ᵀ", "e_h2", "beta" */
  const char *detail;      /* why it has its class: "weight transport", "through B2", ... */
} lc_factor;

typedef struct lc_item {
  const char *name;        /* the population (errors) or the parameter (rules) */
  lc_factor *f;
  int nf;
  bool *reads;             /* [npops]: the populations whose error e it reads */
  bool space_own;          /* no factor of its own is non-local */
  bool space;              /* ... and every error it reads is local in space */
  bool defined;            /* errors: the split holds (the schemes exist); rules: learned
                              or a Kolen–Pollack feedback matrix */
  bool reads_error;        /* rules: it reads some error (then its time locality is the
                              scheme's); errors: always true */
} lc_item;

typedef struct lc_report {
  lc_item *errors;         /* one per population, in population order */
  int nerrors;
  lc_item *rules;          /* one per used parameter, in parameter order */
  int nrules;
  const char *scheme;      /* the model's error scheme (settings.errors) */
} lc_report;

lc_report *lc_build(dv_system *s);

/* Is rule/error `it` local in time under error scheme `scheme` (a vle_scheme)? */
bool lc_time_local(const lc_item *it, int scheme);

void lc_print_text(FILE *out, dv_system *s, const lc_report *r);
/* The "locality" object of `vlec derive --format json` (a jansson json_t *). */
void *lc_json(dv_system *s, const lc_report *r);

#endif
