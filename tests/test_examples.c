/*
 * test_examples.c - every example model, and a model using every standard-library function,
 * passes `vlec check`: keeps examples/ and stdlib/ in step with the language.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

static const char *const models[] = {
  "examples/gle_small/model.vle",  "examples/le_teacher/model.vle",
  "examples/lagline/teacher.vle",  "examples/lagline/student.vle",
  "examples/lagnet/model.vle",     "tests/data/stdlib_uses.vle",
};

Test(examples, every_model_checks) {
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' check '%s/%s'", VLEC_PATH, VLE_SOURCE_DIR, models[i]);
    cr_expect_eq(system(cmd), 0, "vlec check %s failed", models[i]);
  }
}

Test(examples, run_scripts_parse) {
  static const char *const scripts[] = {
    "examples/le_teacher/run.sh", "examples/lagline/run.sh", "examples/lagnet/run.sh",
  };
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh -n '%s/%s'", VLE_SOURCE_DIR, scripts[i]);
    cr_expect_eq(system(cmd), 0, "%s has a syntax error", scripts[i]);
  }
}
