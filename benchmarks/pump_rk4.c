/* The centrifugal pump of sim/physics/pump.py, fleet RK4 in C for benchmarks/physics.py.
   usage: pump_rk4 N STEPS PARAMS_FILE  ->  prints "<seconds> <sum of final states>" */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define G 9.80665
#define NP 21
static void curves(const double *x, const double *p, const double *u, double *s, double *h) {
    double q = x[0], wi = x[1];
    *s = u[0] / p[0];
    *h = (1.0 - p[10] * wi) * (p[1] * (*s) * (*s) + p[2] * (*s) * q + p[3] * q * fabs(q));
}
static void rhs(const double *x, const double *p, const double *u, double *d) {
    double s, h, q = x[0], ks = x[2];
    curves(x, p, u, &s, &h);
    double hsys = u[1] + (p[7] + ks) * q * fabs(q);
    d[0] = G * (h - hsys) / p[8];
    d[1] = p[12] * s * s * s;
    d[2] = p[13] * fabs(q);
    if (s > 1e-9) { double off = q / (s * p[4]) - 1.0; d[3] = p[14] * s * (1.0 + p[15] * off * off); }
    else d[3] = 0.0;
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]); long steps = atol(argv[2]);
    double p0[NP]; FILE *f = fopen(argv[3], "r");
    for (int i = 0; i < NP; i++) if (fscanf(f, "%lf", &p0[i]) != 1) return 2;
    fclose(f);
    double *x = malloc(sizeof(double) * 4 * n), *p = malloc(sizeof(double) * NP * n), *u = malloc(sizeof(double) * 3 * n);
    for (int a = 0; a < n; a++) {
        x[4*a] = 0.03; x[4*a+1] = 0.0; x[4*a+2] = 2000.0; x[4*a+3] = 0.0;
        for (int i = 0; i < NP; i++) p[NP*a+i] = p0[i];
        u[3*a] = 250.0 + 60.0 * a / n; u[3*a+1] = 10.0; u[3*a+2] = 0.0;
    }
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    double k1[4], k2[4], k3[4], k4[4], tmp[4], h = 1.0;
    for (long s = 0; s < steps; s++)
        for (int a = 0; a < n; a++) {
            double *xa = x + 4*a, *pa = p + NP*a, *ua = u + 3*a;
            rhs(xa, pa, ua, k1);
            for (int i = 0; i < 4; i++) tmp[i] = xa[i] + 0.5*h*k1[i];
            rhs(tmp, pa, ua, k2);
            for (int i = 0; i < 4; i++) tmp[i] = xa[i] + 0.5*h*k2[i];
            rhs(tmp, pa, ua, k3);
            for (int i = 0; i < 4; i++) tmp[i] = xa[i] + h*k3[i];
            rhs(tmp, pa, ua, k4);
            for (int i = 0; i < 4; i++) xa[i] += h/6.0*(k1[i] + 2*k2[i] + 2*k3[i] + k4[i]);
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sum = 0; for (int a = 0; a < 4*n; a++) sum += x[a] / (a % 4 == 2 ? 1e3 : 1.0);
    printf("%.9f %.17g\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), sum);
    return 0;
}
