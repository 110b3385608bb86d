/* Bouncing ball, FMI 3.0 Model Exchange (test FMU of tests/sim/fmu, built by the conftest with gcc).

   The equations of bouncing_ball2.c: h' = v, v' = -g, event indicator h, v <- -e v at an impact.
   Value references: 0 time, 1 h [m], 2 der(h), 3 v [m/s], 4 der(v), 5 g (fixed), 6 e (tunable), 7 h0 (fixed).
   Functions this FMU does not offer are in fmi3_stubs.c (compiled with -DFMU_MODEL_EXCHANGE). */
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include "fmi3Functions.h"

#define TOKEN "{b0b0ba11-3333-4e00-8000-00000000me03}"

typedef struct { double time, h, v, g, e, h0; int resting; } State;
typedef struct { State s; } Instance;

static void defaults(State *s) {
    s->time = 0; s->g = 9.81; s->e = 0.7; s->h0 = 1.0; s->h = 1.0; s->v = 0.0; s->resting = 0;
}
static double *ref(Instance *m, fmi3ValueReference vr, double *tmp) {
    switch (vr) {
    case 0: return &m->s.time;
    case 1: return &m->s.h;
    case 3: return &m->s.v;
    case 5: return &m->s.g;
    case 6: return &m->s.e;
    case 7: return &m->s.h0;
    case 2: *tmp = m->s.v; return tmp;
    case 4: *tmp = m->s.resting ? 0.0 : -m->s.g; return tmp;
    default: return NULL;
    }
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
        fmi3Boolean logging, fmi3InstanceEnvironment env, fmi3LogMessageCallback log) {
    if (!token || strcmp(token, TOKEN) != 0) return NULL;
    Instance *m = (Instance *)calloc(1, sizeof(Instance));
    defaults(&m->s);
    return m;
}
fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
        fmi3Boolean logging, fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
        const fmi3ValueReference required[], size_t nRequired, fmi3InstanceEnvironment env,
        fmi3LogMessageCallback log, fmi3IntermediateUpdateCallback update) { return NULL; }
fmi3Instance fmi3InstantiateScheduledExecution(fmi3String name, fmi3String token, fmi3String resources,
        fmi3Boolean visible, fmi3Boolean logging, fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
        fmi3ClockUpdateCallback clockUpdate, fmi3LockPreemptionCallback lock, fmi3UnlockPreemptionCallback unlock) {
    return NULL;
}
const char *fmi3GetVersion(void) { return fmi3Version; }
fmi3Status fmi3SetDebugLogging(fmi3Instance c, fmi3Boolean on, size_t n, const fmi3String cat[]) { return fmi3OK; }
void fmi3FreeInstance(fmi3Instance c) { free(c); }
fmi3Status fmi3EnterInitializationMode(fmi3Instance c, fmi3Boolean tolDef, fmi3Float64 tol, fmi3Float64 start,
                                       fmi3Boolean stopDef, fmi3Float64 stop) {
    ((Instance *)c)->s.time = start; return fmi3OK;
}
fmi3Status fmi3ExitInitializationMode(fmi3Instance c) {
    Instance *m = c; m->s.h = m->s.h0; m->s.v = 0.0; m->s.resting = 0; return fmi3OK;
}
fmi3Status fmi3EnterEventMode(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3Terminate(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3Reset(fmi3Instance c) { defaults(&((Instance *)c)->s); return fmi3OK; }
fmi3Status fmi3GetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3Float64 v[], size_t nv) {
    double tmp;
    for (size_t i = 0; i < n; i++) { double *p = ref(c, vr[i], &tmp); if (!p) return fmi3Error; v[i] = *p; }
    return fmi3OK;
}
fmi3Status fmi3SetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3Float64 v[], size_t nv) {
    double tmp;
    for (size_t i = 0; i < n; i++) {
        if (vr[i] == 0 || vr[i] == 2 || vr[i] == 4) return fmi3Error;
        double *p = ref(c, vr[i], &tmp); if (!p) return fmi3Error; *p = v[i];
    }
    return fmi3OK;
}
fmi3Status fmi3GetFMUState(fmi3Instance c, fmi3FMUState *state) {
    State *copy = *state ? (State *)*state : (State *)malloc(sizeof(State));
    *copy = ((Instance *)c)->s; *state = copy; return fmi3OK;
}
fmi3Status fmi3SetFMUState(fmi3Instance c, fmi3FMUState state) { ((Instance *)c)->s = *(State *)state; return fmi3OK; }
fmi3Status fmi3FreeFMUState(fmi3Instance c, fmi3FMUState *state) { free(*state); *state = NULL; return fmi3OK; }

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance c, fmi3Boolean *needUpdate, fmi3Boolean *terminate,
        fmi3Boolean *nominalsChanged, fmi3Boolean *valuesChanged, fmi3Boolean *nextDefined, fmi3Float64 *next) {
    Instance *m = c;
    *needUpdate = fmi3False; *terminate = fmi3False; *nominalsChanged = fmi3False; *valuesChanged = fmi3False;
    *nextDefined = fmi3False; *next = 0;
    if (m->s.h <= 0 && m->s.v < 0) {
        m->s.h = DBL_MIN;
        m->s.v = -m->s.e * m->s.v;
        if (m->s.v < 1e-3) { m->s.v = 0; m->s.h = 0; m->s.resting = 1; }
        *valuesChanged = fmi3True;
    }
    return fmi3OK;
}
fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3CompletedIntegratorStep(fmi3Instance c, fmi3Boolean noSetPrior, fmi3Boolean *enter,
                                       fmi3Boolean *terminate) {
    *enter = fmi3False; *terminate = fmi3False; return fmi3OK;
}
fmi3Status fmi3SetTime(fmi3Instance c, fmi3Float64 t) { ((Instance *)c)->s.time = t; return fmi3OK; }
fmi3Status fmi3SetContinuousStates(fmi3Instance c, const fmi3Float64 x[], size_t nx) {
    Instance *m = c; if (nx != 2) return fmi3Error; m->s.h = x[0]; m->s.v = x[1]; return fmi3OK;
}
fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance c, fmi3Float64 dx[], size_t nx) {
    Instance *m = c; if (nx != 2) return fmi3Error; dx[0] = m->s.v; dx[1] = m->s.resting ? 0.0 : -m->s.g;
    return fmi3OK;
}
fmi3Status fmi3GetEventIndicators(fmi3Instance c, fmi3Float64 z[], size_t nz) {
    Instance *m = c; if (nz != 1) return fmi3Error; z[0] = m->s.resting ? 1.0 : m->s.h; return fmi3OK;
}
fmi3Status fmi3GetContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    Instance *m = c; if (nx != 2) return fmi3Error; x[0] = m->s.h; x[1] = m->s.v; return fmi3OK;
}
fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
    for (size_t i = 0; i < nx; i++) x[i] = 1.0;
    return fmi3OK;
}
fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance c, size_t *n) { *n = 1; return fmi3OK; }
fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance c, size_t *n) { *n = 2; return fmi3OK; }
