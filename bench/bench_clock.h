/* The two clocks the benchmarks report against: wall time (monotonic) and
 * this process's CPU time (user + system, getrusage), both in seconds. */
#ifndef LS_BENCH_CLOCK_H
#define LS_BENCH_CLOCK_H

#include <sys/resource.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#endif
