/* Bouncing ball, FMI 2.0 Model Exchange (test FMU of tests/sim/fmu, built by the conftest with gcc).

   h' = v, v' = -g; event indicator z = h; at an impact (h <= 0, v < 0) v <- -e v.
   Impact times from h0 at rest: t1 = sqrt(2 h0 / g), t(k+1) = t(k) + 2 e^k g t1 / g.
   Value references: 1 h [m], 2 der(h) [m/s], 3 v [m/s], 4 der(v) [m/s2], 5 g [m/s2] (fixed parameter),
   6 e [1] (tunable parameter), 7 h0 [m] (fixed parameter, the start height). */
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include "fmi2Functions.h"

#define GUID "{5d1c6c3e-1b5e-4b43-9a1e-0bb0b0ba1102}"
#define NX 2
#define NZ 1

typedef struct {
    double time, h, v, g, e, h0;
    int resting;
} State;

typedef struct {
    State s;
    fmi2CallbackFunctions cb;
    fmi2String name;
} Instance;

static void defaults(State *s) {
    s->time = 0; s->g = 9.81; s->e = 0.7; s->h0 = 1.0; s->h = 1.0; s->v = 0.0; s->resting = 0;
}

static double *real_ref(Instance *m, fmi2ValueReference vr, double *tmp) {
    switch (vr) {
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

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }
fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cat[]) { return fmi2OK; }

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String resources,
                              const fmi2CallbackFunctions *cb, fmi2Boolean visible, fmi2Boolean logging) {
    if (type != fmi2ModelExchange || !guid || strcmp(guid, GUID) != 0) return NULL;
    Instance *m = (Instance *)calloc(1, sizeof(Instance));
    defaults(&m->s);
    if (cb) m->cb = *cb;
    m->name = name;
    return m;
}
void fmi2FreeInstance(fmi2Component c) { free(c); }
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tolDef, fmi2Real tol, fmi2Real start, fmi2Boolean stopDef,
                               fmi2Real stop) { ((Instance *)c)->s.time = start; return fmi2OK; }
fmi2Status fmi2EnterInitializationMode(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    Instance *m = c; m->s.h = m->s.h0; m->s.v = 0.0; m->s.resting = 0; return fmi2OK;
}
fmi2Status fmi2Terminate(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2Reset(fmi2Component c) { defaults(&((Instance *)c)->s); return fmi2OK; }

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real value[]) {
    double tmp;
    for (size_t i = 0; i < n; i++) {
        double *p = real_ref(c, vr[i], &tmp);
        if (!p) return fmi2Error;
        value[i] = *p;
    }
    return fmi2OK;
}
fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Real value[]) {
    double tmp;
    for (size_t i = 0; i < n; i++) {
        if (vr[i] == 2 || vr[i] == 4) return fmi2Error;
        double *p = real_ref(c, vr[i], &tmp);
        if (!p) return fmi2Error;
        *p = value[i];
    }
    return fmi2OK;
}
fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Integer v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Boolean v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2String v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Integer v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Boolean v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2String v[]) { return n ? fmi2Error : fmi2OK; }

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *state) {
    State *copy = *state ? (State *)*state : (State *)malloc(sizeof(State));
    *copy = ((Instance *)c)->s;
    *state = copy;
    return fmi2OK;
}
fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate state) { ((Instance *)c)->s = *(State *)state; return fmi2OK; }
fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *state) { free(*state); *state = NULL; return fmi2OK; }
fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate s, size_t *size) { *size = sizeof(State); return fmi2OK; }
fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate s, fmi2Byte out[], size_t size) {
    memcpy(out, s, sizeof(State)); return fmi2OK;
}
fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte in[], size_t size, fmi2FMUstate *s) {
    if (size != sizeof(State)) return fmi2Error;
    if (!*s) *s = malloc(sizeof(State));
    memcpy(*s, in, sizeof(State)); return fmi2OK;
}
fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference u[], size_t nu,
                                        const fmi2ValueReference k[], size_t nk, const fmi2Real dk[], fmi2Real du[]) {
    return fmi2Error;
}

/* Model Exchange */
fmi2Status fmi2EnterEventMode(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *info) {
    Instance *m = c;
    info->newDiscreteStatesNeeded = fmi2False;
    info->terminateSimulation = fmi2False;
    info->nominalsOfContinuousStatesChanged = fmi2False;
    info->valuesOfContinuousStatesChanged = fmi2False;
    info->nextEventTimeDefined = fmi2False;
    info->nextEventTime = 0;
    if (m->s.h <= 0 && m->s.v < 0) {
        m->s.h = DBL_MIN;
        m->s.v = -m->s.e * m->s.v;
        if (m->s.v < 1e-3) { m->s.v = 0; m->s.h = 0; m->s.resting = 1; }
        info->valuesOfContinuousStatesChanged = fmi2True;
    }
    return fmi2OK;
}
fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSet, fmi2Boolean *enter, fmi2Boolean *term) {
    *enter = fmi2False; *term = fmi2False; return fmi2OK;
}
fmi2Status fmi2SetTime(fmi2Component c, fmi2Real t) { ((Instance *)c)->s.time = t; return fmi2OK; }
fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    Instance *m = c; if (nx != NX) return fmi2Error; m->s.h = x[0]; m->s.v = x[1]; return fmi2OK;
}
fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t nx) {
    Instance *m = c; if (nx != NX) return fmi2Error;
    dx[0] = m->s.v; dx[1] = m->s.resting ? 0.0 : -m->s.g; return fmi2OK;
}
fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real z[], size_t nz) {
    Instance *m = c; if (nz != NZ) return fmi2Error; z[0] = m->s.resting ? 1.0 : m->s.h; return fmi2OK;
}
fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    Instance *m = c; if (nx != NX) return fmi2Error; x[0] = m->s.h; x[1] = m->s.v; return fmi2OK;
}
fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    for (size_t i = 0; i < nx; i++) x[i] = 1.0;
    return fmi2OK;
}
