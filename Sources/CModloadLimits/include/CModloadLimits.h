// The physical limits Modload's benchmarks are held against, measured in C on the machine the
// benchmark runs on, in the same run (`modload bench`): what the same operation costs with nothing
// of Modload around it. Each function returns a median over repetitions.
#ifndef CMODLOAD_LIMITS_H
#define CMODLOAD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A reference get+put as the kernel does it: increment-unless-zero (a CAS loop) then a
/// decrement, on one counter, `threads` threads at once (1 or 2). Median ns per pair per thread.
double ml_limit_get_put_ns(int threads, long iterations, int repetitions);

/// Waking `threads` threads that sleep on one futex with one broadcast: median µs from the wake
/// call until the last of them has acknowledged (an atomic increment). -1 if the threads could not
/// be created.
double ml_limit_wake_us(int threads, int repetitions);

/// One dlopen + dlsym + call + dlclose of the shared object at `path` exporting `symbol`
/// (`int symbol(void)`): median µs over batches. -1 if it cannot be opened.
double ml_limit_dlopen_cycle_us(const char *path, const char *symbol, int batches, int per_batch);

/// A ping-pong over a Unix stream socket bound at `path` with another process (forked, serving
/// one connection): `calls` times, the call's bytes out, the reply's bytes (which end in a NUL)
/// back. Fills `samples` with each round trip in µs; 0 on success, -1 if the socket or the process
/// could not be made.
int ml_limit_socket_pingpong_us(const char *path, const char *call, size_t call_length, const char *reply,
                                size_t reply_length, int calls, double *samples);

#ifdef __cplusplus
}
#endif
#endif
