/* gle_golden.h: reproduce tests/data/gle_p1/expected.json with a baseline's step.
 *
 * The golden case is model.vle beside expected.json: a 3-4-2 network (sigmoid hidden layer,
 * linear output), per-neuron time constants, parameters from W1/b1/W2/b2.npy, dt 0.02,
 * gamma 0.1, beta 1, prospective errors, SGD 0.05, x(t) = [sin 2t, cos 0.5t, 0.3],
 * y*(t) = [0.4 sin(2t - 0.3), 0.2 cos 0.9t], 100 steps. expected.json holds for every step k
 * the model's output (rate of o published at step k-1), o's rate published at step k, the loss
 * 0.5|y*(t_k) - output_k|^2, and the parameters after the last step. Passing it to 1e-10 shows
 * that a baseline computes the step of docs/theory.md §6 (sync Euler, published-at-k-1). */
#ifndef GLE_GOLDEN_H
#define GLE_GOLDEN_H

#include "gle_common.h"

/* The default case is the repository's tests/data/gle_p1, found from this header's own path
 * (absolute under run.sh, relative to bench/ under the Makefile), so no install path is baked in. */
static void golden_default_dir(char *out, size_t n) {
    const char *here = __FILE__, *slash = strrchr(here, '/');
    int dirlen = slash ? (int)(slash - here) : 1;
    snprintf(out, n, "%.*s/../../tests/data/gle_p1", dirlen, slash ? here : ".");
}

static void golden_input(const void *ctx, double t, double *x) {
    (void)ctx;
    x[0] = sin(2.0 * t); x[1] = cos(0.5 * t); x[2] = 0.3;
}
static void golden_target(const void *ctx, double t, double *y) {
    (void)ctx;
    y[0] = 0.4 * sin(2.0 * t - 0.3); y[1] = 0.2 * cos(0.9 * t);
}

/* Read the numbers that follow "key": in a JSON file, in order, flattening nested arrays.
 * Enough for expected.json (arrays of numbers); not a general JSON parser. */
static long json_numbers(const char *text, const char *key, double *out, long max) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *s = strstr(text, pat);
    if (!s) return -1;
    s = strchr(s + strlen(pat), ':');
    if (!s) return -1;
    s++;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    long n = 0;
    int depth = 0;
    do {
        if (*s == '[') { depth++; s++; }
        else if (*s == ']') { depth--; s++; }
        else if (*s == ',' || *s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
        else {
            char *end;
            double d = strtod(s, &end);
            if (end == s) return -1;
            if (n < max) out[n] = d;
            n++;
            s = end;
        }
    } while (depth > 0 && *s);
    return n;
}

static int golden_load_param(const char *dir, const char *name, real *dst, long want) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    double *buf; int nd; long shape[4];
    long n = npy_read(path, &buf, &nd, shape);
    if (n != want) { fprintf(stderr, "golden: cannot read %s (or wrong size)\n", path); return -1; }
    for (long q = 0; q < n; q++) dst[q] = (real)buf[q];
    free(buf);
    return 0;
}

static int cmp_report(const char *what, const double *got, const double *want, long n, double tol, double *worst) {
    int bad = 0;
    for (long q = 0; q < n; q++) {
        double d = fabs(got[q] - want[q]);
        if (d > *worst) *worst = d;
        if (!(d <= tol)) {
            if (bad < 5) fprintf(stderr, "golden: %s[%ld] = %.17g, expected %.17g (|diff| %.3g)\n", what, q, got[q], want[q], d);
            bad++;
        }
    }
    return bad;
}

/* Runs the golden case with `step`; returns 0 when everything matches to the tolerance of
 * expected.json (1e-10 in f64; 1e-4 in an f32 build, which proves less). */
static int golden_main(const char *dir, const char *impl, step_fn step, void *(*ws_new)(gle_net *)) {
    char defdir[2048];
    if (!dir) { golden_default_dir(defdir, sizeof defdir); dir = defdir; }
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "golden: cannot open %s\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(len + 1, 1);
    if (fread(text, 1, len, f) != (size_t)len) { fclose(f); fprintf(stderr, "golden: read error\n"); return 1; }
    fclose(f);

    double steps_d, tol_json;
    if (json_numbers(text, "steps", &steps_d, 1) != 1 || json_numbers(text, "tolerance", &tol_json, 1) != 1) {
        fprintf(stderr, "golden: expected.json lacks steps/tolerance\n");
        return 1;
    }
    const long S = (long)steps_d;
    const int sizes[3] = {3, 4, 2};
    double *exp_out = malloc(sizeof(double) * S * 2), *exp_rate = malloc(sizeof(double) * S * 2);
    double *exp_loss = malloc(sizeof(double) * S);
    double exp_W1[12], exp_b1[4], exp_W2[8], exp_b2[2];
    if (json_numbers(text, "output", exp_out, S * 2) != S * 2 || json_numbers(text, "o_rate", exp_rate, S * 2) != S * 2 ||
        json_numbers(text, "loss", exp_loss, S) != S || json_numbers(text, "W1", exp_W1, 12) != 12 ||
        json_numbers(text, "b1", exp_b1, 4) != 4 || json_numbers(text, "W2", exp_W2, 8) != 8 ||
        json_numbers(text, "b2", exp_b2, 2) != 2) {
        fprintf(stderr, "golden: expected.json does not have the expected shape\n");
        return 1;
    }
    free(text);

    gle_net net;
    net_alloc(&net, 3, sizes, 1);
    net.dt = 0.02; net.gamma = 0.1; net.beta = 1.0; net.eta = 0.05;
    net.input_fn = golden_input; net.target_fn = golden_target; net.io_ctx = NULL;
    net.pop[1].phi = PHI_SIGMOID;
    net.pop[2].phi = PHI_LINEAR;
    /* from model.vle */
    const double tm1[4] = {0.3, 0.6, 0.9, 1.2}, tr1[4] = {0.3, 0.1, 0.9, 0.05};
    for (int i = 0; i < 4; i++) { net.pop[1].tau_m[i] = (real)tm1[i]; net.pop[1].tau_r[i] = (real)tr1[i]; }
    for (int i = 0; i < 2; i++) { net.pop[2].tau_m[i] = (real)0.5; net.pop[2].tau_r[i] = (real)0.5; }
    if (golden_load_param(dir, "W1", net.pop[1].W, 12) || golden_load_param(dir, "b1", net.pop[1].b, 4) ||
        golden_load_param(dir, "W2", net.pop[2].W, 8) || golden_load_param(dir, "b2", net.pop[2].b, 2))
        return 1;
    net_zero_state(&net);
    void *ws = ws_new ? ws_new(&net) : NULL;

    double *got_out = malloc(sizeof(double) * S * 2), *got_rate = malloc(sizeof(double) * S * 2);
    double *got_loss = malloc(sizeof(double) * S);
    for (long k = 0; k < S; k++) {
        /* output at step k = rate published at step k-1 (zero before the first step) */
        double t = k * net.dt, y[2];
        golden_target(NULL, t, y);
        double loss = 0;
        for (int j = 0; j < 2; j++) {
            got_out[k * 2 + j] = net.pop[2].r[j];
            double d = y[j] - net.pop[2].r[j];
            loss += 0.5 * d * d;
        }
        got_loss[k] = loss;
        step(&net, ws);
        for (int j = 0; j < 2; j++) got_rate[k * 2 + j] = net.pop[2].r[j];
    }
    double gW1[12], gb1[4], gW2[8], gb2[2];
    for (int q = 0; q < 12; q++) gW1[q] = net.pop[1].W[q];
    for (int q = 0; q < 4; q++) gb1[q] = net.pop[1].b[q];
    for (int q = 0; q < 8; q++) gW2[q] = net.pop[2].W[q];
    for (int q = 0; q < 2; q++) gb2[q] = net.pop[2].b[q];

    double tol = sizeof(real) == 8 ? tol_json : 1e-4, worst = 0;
    int bad = 0;
    bad += cmp_report("output", got_out, exp_out, S * 2, tol, &worst);
    bad += cmp_report("o_rate", got_rate, exp_rate, S * 2, tol, &worst);
    bad += cmp_report("loss", got_loss, exp_loss, S, tol, &worst);
    bad += cmp_report("W1", gW1, exp_W1, 12, tol, &worst);
    bad += cmp_report("b1", gb1, exp_b1, 4, tol, &worst);
    bad += cmp_report("W2", gW2, exp_W2, 8, tol, &worst);
    bad += cmp_report("b2", gb2, exp_b2, 2, tol, &worst);
    printf("golden %s (%s): %ld steps, %d mismatches, max |diff| %.3g (tolerance %.3g): %s\n", impl, PREC_NAME, S, bad,
           worst, tol, bad ? "FAIL" : "PASS");
    return bad ? 1 : 0;
}

#endif
