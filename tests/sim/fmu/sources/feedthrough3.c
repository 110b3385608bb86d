/* Feedthrough with an integrator, FMI 3.0 Co-Simulation (test FMU of tests/sim/fmu, built by the conftest with gcc).

   y = gain * u (direct feedthrough), integral' = u on a fixed internal step of 1 ms (exact for a held input).
   Misbehaviour on request, for the out-of-process runner's tests: doStep from t >= hang_time [s] never returns,
   doStep from t >= crash_time [s] dereferences NULL.  Both are off (< 0) by default.
   Value references: 0 time, 1 u, 2 y, 3 integral, 4 gain (tunable), 5 hang_time (fixed), 6 crash_time (fixed).
   Functions this FMU does not offer are in fmi3_stubs.c (they return fmi3Error). */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "fmi3Functions.h"

#define TOKEN "{0f3c8d8a-3a49-4b7e-9d1f-feed00000003}"
#define H_INTERNAL 1e-3

typedef struct {
    double time, u, integral, gain, hang_time, crash_time;
} State;

typedef struct { State s; } Instance;

static void defaults(State *s) {
    s->time = 0; s->u = 0; s->integral = 0; s->gain = 1; s->hang_time = -1; s->crash_time = -1;
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
        fmi3Boolean logging, fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
        const fmi3ValueReference required[], size_t nRequired, fmi3InstanceEnvironment env,
        fmi3LogMessageCallback log, fmi3IntermediateUpdateCallback update) {
    if (!token || strcmp(token, TOKEN) != 0) return NULL;
    Instance *m = (Instance *)calloc(1, sizeof(Instance));
    defaults(&m->s);
    return m;
}
fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources, fmi3Boolean visible,
        fmi3Boolean logging, fmi3InstanceEnvironment env, fmi3LogMessageCallback log) { return NULL; }
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
fmi3Status fmi3ExitInitializationMode(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3EnterEventMode(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3Terminate(fmi3Instance c) { return fmi3OK; }
fmi3Status fmi3Reset(fmi3Instance c) { defaults(&((Instance *)c)->s); return fmi3OK; }

static double *ref(Instance *m, fmi3ValueReference vr, double *tmp) {
    switch (vr) {
    case 0: return &m->s.time;
    case 1: return &m->s.u;
    case 2: *tmp = m->s.gain * m->s.u; return tmp;
    case 3: return &m->s.integral;
    case 4: return &m->s.gain;
    case 5: return &m->s.hang_time;
    case 6: return &m->s.crash_time;
    default: return NULL;
    }
}
fmi3Status fmi3GetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n, fmi3Float64 v[], size_t nv) {
    double tmp;
    for (size_t i = 0; i < n; i++) { double *p = ref(c, vr[i], &tmp); if (!p) return fmi3Error; v[i] = *p; }
    return fmi3OK;
}
fmi3Status fmi3SetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t n, const fmi3Float64 v[], size_t nv) {
    double tmp;
    for (size_t i = 0; i < n; i++) {
        if (vr[i] == 0 || vr[i] == 2 || vr[i] == 3) return fmi3Error;
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

fmi3Status fmi3DoStep(fmi3Instance c, fmi3Float64 t, fmi3Float64 h, fmi3Boolean noSetPrior, fmi3Boolean *eventNeeded,
                      fmi3Boolean *terminate, fmi3Boolean *earlyReturn, fmi3Float64 *lastTime) {
    Instance *m = c;
    if (m->s.hang_time >= 0 && t >= m->s.hang_time) { volatile int spin = 1; while (spin) {} }
    if (m->s.crash_time >= 0 && t >= m->s.crash_time) { volatile int *p = NULL; *p = 1; }
    long n = lround(h / H_INTERNAL);
    if (n < 1 || fabs(n * H_INTERNAL - h) > 1e-9 * (1 + h)) return fmi3Error;
    for (long k = 0; k < n; k++) m->s.integral += m->s.u * H_INTERNAL;
    m->s.time = t + h;
    *eventNeeded = fmi3False; *terminate = fmi3False; *earlyReturn = fmi3False; *lastTime = t + h;
    return fmi3OK;
}
