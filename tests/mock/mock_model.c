/*
 * mock_model.c - a model written by hand the way the compiler will emit one (docs/abi.md):
 * a descriptor (JSON) and kernels over buffers. The runtime tests use it without the
 * compiler. One leaky linear population h[1] driven through W[1x1] and b by an input x with
 * a default stream, a target y, the output error fed back with gain gamma:
 *
 *   g = beta (y - r_pub);  e = g (inst) | v + tau_m vdot, vdot = (g - v)/tau_r (prosp) | 0
 *   tau_m u' = -u + W x + b + gamma e;  rate_next = u + tau_r u';  u += dt u'
 *   loss = (y - r_pub)^2 / 2;  energy = (tau_m u' + u - W x - b)^2 / 2 + beta loss
 *   grads: G_W = -mean(e x), G_b = -mean(e), G_tau_r = mean(e)
 *
 * Extra parameters V, U, I, Z, C exercise the initialisers; lab (onehot) and x2 exercise
 * data feeding. Compiled as is it is model "mock" (f64); with -DMOCK_F32 model "mock32"
 * (f32); with -DMOCK_SO it also exports vle_model_name, as a built .so does.
 */
#include <math.h>
#include <stdint.h>

#ifdef MOCK_F32
#define MOCK_REAL float
#define MOCK_NAME mock32
#define MOCK_PREC "f32"
#else
#define MOCK_REAL double
#define MOCK_NAME mock
#define MOCK_PREC "f64"
#endif

#define MOCK_CAT3(a, b, c) a##b##c
#define MOCK_CAT(a, b, c) MOCK_CAT3(a, b, c)
#define MOCK_SYM(k) MOCK_CAT(vle_, MOCK_NAME, _##k)
#define MOCK_STR2(x) #x
#define MOCK_STR(x) MOCK_STR2(x)

#ifndef MOCK_ENUM_DONE
#define MOCK_ENUM_DONE
enum {
  MB_U, MB_UDOT, MB_E, MB_V, MB_G, MB_RATE, MB_RATE_NEXT, MB_W, MB_GW, MB_B, MB_GB, MB_TAUM,
  MB_TAUR, MB_GTAUR, MB_TAU, MB_BETA, MB_X, MB_Y, MB_T, MB_DT, MB_GAMMA, MB_LOSS, MB_ENERGY,
  MB_V6, MB_U6, MB_I3, MB_Z4, MB_C2, MB_LAB, MB_X2, MB_OBJ_BETA
};
#endif

#ifdef MOCK_SO
const char vle_model_name[] = MOCK_STR(MOCK_NAME);
#endif
#ifndef MOCK_ABI
#define MOCK_ABI 1
#endif
const uint32_t MOCK_SYM(abi) = MOCK_ABI;

const char MOCK_SYM(meta)[] =
  "{\"abi\": 1, \"model\": \"" MOCK_STR(MOCK_NAME) "\", \"hash\": \"mockhash-" MOCK_PREC "\","
  " \"precision\": \"" MOCK_PREC "\","
  " \"settings\": {\"dt\": 0.1, \"gamma\": 0.5, \"errors\": \"prospective\", \"scheme\": \"sync\","
  "  \"batch\": 1},"
  " \"buffers\": ["
  "  {\"name\": \"h\", \"role\": \"state\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"h'\", \"role\": \"state\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"h.error\", \"role\": \"state\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"h.v\", \"role\": \"state\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"h.g\", \"role\": \"state\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"h.rate\", \"role\": \"pub\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": 6},"
  "  {\"name\": \"h.rate@next\", \"role\": \"pubnext\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": 5},"
  "  {\"name\": \"W\", \"role\": \"param\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": 8},"
  "  {\"name\": \"grad.W\", \"role\": \"grad\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"b\", \"role\": \"param\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": 10},"
  "  {\"name\": \"grad.b\", \"role\": \"grad\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"h.tau_m\", \"role\": \"param\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"h.tau_r\", \"role\": \"param\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": 13},"
  "  {\"name\": \"grad.h.tau_r\", \"role\": \"grad\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"tau\", \"role\": \"const\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"beta\", \"role\": \"const\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"x\", \"role\": \"input\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"y\", \"role\": \"target\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"t\", \"role\": \"setting\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"dt\", \"role\": \"setting\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"gamma\", \"role\": \"setting\", \"rows\": 1, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"loss\", \"role\": \"signal\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"energy\", \"role\": \"signal\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"V\", \"role\": \"param\", \"rows\": 6, \"cols\": 4, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"U\", \"role\": \"param\", \"rows\": 6, \"cols\": 4, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"I\", \"role\": \"param\", \"rows\": 3, \"cols\": 3, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"Z\", \"role\": \"param\", \"rows\": 4, \"cols\": 1, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"C\", \"role\": \"param\", \"rows\": 2, \"cols\": 2, \"batched\": false, \"pair\": -1},"
  "  {\"name\": \"lab\", \"role\": \"target\", \"rows\": 3, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"x2\", \"role\": \"input\", \"rows\": 2, \"cols\": 1, \"batched\": true, \"pair\": -1},"
  "  {\"name\": \"objective.beta\", \"role\": \"signal\", \"rows\": 1, \"cols\": 1, \"batched\": true, \"pair\": -1}"
  " ],"
  " \"kernels\": [\"init\", \"pub_init\", \"streams\", \"step_inst\", \"step_prosp\", \"step_free\", \"grads\"],"
  " \"populations\": [{\"name\": \"h\", \"size\": 1, \"u\": 0, \"udot\": 1, \"e\": 2, \"v\": 3,"
  "   \"g\": 4, \"rate\": 5, \"tau_m\": 11, \"tau_r\": 12}],"
  " \"inputs\": [{\"name\": \"x\", \"buf\": 16, \"size\": 1, \"default\": true},"
  "             {\"name\": \"x2\", \"buf\": 29, \"size\": 2, \"default\": false}],"
  " \"targets\": [{\"name\": \"y\", \"buf\": 17, \"size\": 1, \"default\": true, \"onehot\": false},"
  "              {\"name\": \"lab\", \"buf\": 28, \"size\": 3, \"default\": false, \"onehot\": true}],"
  " \"consts\": [{\"name\": \"tau\", \"buf\": 14, \"value\": [0.5]},"
  "            {\"name\": \"beta\", \"buf\": 15, \"value\": [1.0]}],"
  " \"params\": ["
  "  {\"name\": \"W\", \"buf\": 7, \"grad\": 8, \"kind\": \"weight\","
  "   \"init\": {\"dist\": \"constant\", \"args\": [0.5]}, \"learn\": 0},"
  "  {\"name\": \"b\", \"buf\": 9, \"grad\": 10, \"kind\": \"bias\", \"init\": {\"dist\": \"zeros\"},"
  "   \"learn\": 0},"
  "  {\"name\": \"h.tau_m\", \"buf\": 11, \"grad\": -1, \"kind\": \"tau_m\","
  "   \"init\": {\"dist\": \"kernel\"}, \"learn\": -1},"
  "  {\"name\": \"h.tau_r\", \"buf\": 12, \"grad\": 13, \"kind\": \"tau_r\","
  "   \"init\": {\"dist\": \"constant\", \"args\": [0.2]}, \"learn\": 1},"
  "  {\"name\": \"V\", \"buf\": 23, \"grad\": -1, \"kind\": \"weight\","
  "   \"init\": {\"dist\": \"normal\", \"args\": [0.5, 2.0]}, \"learn\": -1},"
  "  {\"name\": \"U\", \"buf\": 24, \"grad\": -1, \"kind\": \"weight\", \"init\": {\"dist\": \"glorot\"},"
  "   \"learn\": -1},"
  "  {\"name\": \"I\", \"buf\": 25, \"grad\": -1, \"kind\": \"weight\", \"init\": {\"dist\": \"identity\"},"
  "   \"learn\": -1},"
  "  {\"name\": \"Z\", \"buf\": 26, \"grad\": -1, \"kind\": \"bias\","
  "   \"init\": {\"dist\": \"uniform\", \"args\": [-1.0, 2.0]}, \"learn\": -1},"
  "  {\"name\": \"C\", \"buf\": 27, \"grad\": -1, \"kind\": \"weight\","
  "   \"init\": {\"dist\": \"constant\", \"args\": [0.25]}, \"learn\": -1}"
  " ],"
  " \"learn\": [{\"params\": [\"W\", \"b\"], \"opt\": \"sgd\", \"lr\": 0.1, \"betas\": [0.9, 0.999],"
  "             \"eps\": 1e-8, \"clamp\": null},"
  "            {\"params\": [\"h.tau_r\"], \"opt\": \"adam\", \"lr\": 0.01, \"betas\": [0.9, 0.999],"
  "             \"eps\": 1e-8, \"clamp\": {\"op\": \">=\", \"value\": 0.15}}],"
  " \"signals\": {\"t\": 18, \"dt\": 19, \"gamma\": 20, \"loss\": 21, \"energy\": 22, \"beta\": 30}"
  "}";

#define mreal MOCK_REAL
#define MB(i) ((mreal *)bufs[i])

void MOCK_SYM(init)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx; (void)batch;
  MB(MB_TAUM)[0] = MB(MB_TAU)[0];
}

/* The mock publishes nothing that is not zero before the first step. */
void MOCK_SYM(pub_init)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx; (void)bufs; (void)batch;
}

void MOCK_SYM(streams)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx;
  mreal t = MB(MB_T)[0];
  for (int64_t b = 0; b < batch; b++) {
    MB(MB_X)[b] = (mreal)sin(t);
    MB(MB_Y)[b] = (mreal)(0.5 * cos(t));
  }
}

/* scheme: 0 free, 1 instantaneous, 2 prospective */
static void MOCK_CAT(mock_, MOCK_NAME, _step)(void *const *bufs, int64_t batch, int scheme) {
  mreal dt = MB(MB_DT)[0], gamma = MB(MB_GAMMA)[0], beta = MB(MB_BETA)[0];
  mreal W = MB(MB_W)[0], bias = MB(MB_B)[0], tm = MB(MB_TAUM)[0], tr = MB(MB_TAUR)[0];
  for (int64_t b = 0; b < batch; b++) {
    mreal out = MB(MB_RATE)[b], y = MB(MB_Y)[b], x = MB(MB_X)[b], u = MB(MB_U)[b];
    mreal g = beta * (y - out), e = 0, v = MB(MB_V)[b];
    if (scheme == 1) e = g;
    if (scheme == 2) {
      mreal vdot = (g - v) / tr;
      e = v + tm * vdot;
      MB(MB_V)[b] = v + dt * vdot;
    }
    mreal udot = (-u + W * x + bias + gamma * e) / tm;
    mreal m = tm * udot + u - W * x - bias;
    MB(MB_G)[b] = g;
    MB(MB_E)[b] = e;
    MB(MB_UDOT)[b] = udot;
    MB(MB_LOSS)[b] = (mreal)0.5 * (y - out) * (y - out);
    MB(MB_OBJ_BETA)[b] = beta;   /* the energy is ... + beta * loss */
    MB(MB_ENERGY)[b] = (mreal)0.5 * m * m + beta * MB(MB_LOSS)[b];
    MB(MB_RATE_NEXT)[b] = u + tr * udot;
    MB(MB_U)[b] = u + dt * udot;
  }
}

void MOCK_SYM(step_free)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx;
  MOCK_CAT(mock_, MOCK_NAME, _step)(bufs, batch, 0);
}
void MOCK_SYM(step_inst)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx;
  MOCK_CAT(mock_, MOCK_NAME, _step)(bufs, batch, 1);
}
void MOCK_SYM(step_prosp)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx;
  MOCK_CAT(mock_, MOCK_NAME, _step)(bufs, batch, 2);
}

void MOCK_SYM(grads)(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx;
  mreal gw = 0, gb = 0;
  for (int64_t b = 0; b < batch; b++) {
    gw -= MB(MB_E)[b] * MB(MB_X)[b];
    gb -= MB(MB_E)[b];
  }
  MB(MB_GW)[0] = gw / (mreal)batch;
  MB(MB_GB)[0] = gb / (mreal)batch;
  MB(MB_GTAUR)[0] = -gb / (mreal)batch;
}

#undef MB
#undef mreal
#undef MOCK_REAL
#undef MOCK_NAME
#undef MOCK_PREC
