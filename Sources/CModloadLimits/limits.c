// The limits harness (see the header): plain C, no Modload, timed with CLOCK_MONOTONIC.
#define _GNU_SOURCE
#include "CModloadLimits.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

// MARK: get + put

struct counter { _Alignas(64) atomic_long value; };
static struct counter shared_counter;

struct get_put_run { long iterations; atomic_int *ready; int threads; double ns; };

static void *get_put_worker(void *raw) {
    struct get_put_run *run = raw;
    atomic_fetch_add(run->ready, 1);
    while (atomic_load(run->ready) < run->threads) sched_yield();
    uint64_t start = now_ns();
    for (long i = 0; i < run->iterations; i++) {
        long v = atomic_load_explicit(&shared_counter.value, memory_order_relaxed);
        do {
            if (v == 0) break;
        } while (!atomic_compare_exchange_weak_explicit(&shared_counter.value, &v, v + 1, memory_order_acquire, memory_order_relaxed));
        if (v != 0) atomic_fetch_sub_explicit(&shared_counter.value, 1, memory_order_release);
    }
    run->ns = (double)(now_ns() - start) / (double)run->iterations;
    return NULL;
}

double ml_limit_get_put_ns(int threads, long iterations, int repetitions) {
    if (threads < 1 || threads > 2 || repetitions < 1 || repetitions > 64) return -1;
    double samples[64];
    atomic_store(&shared_counter.value, 1);  // the base: never zero
    for (int r = 0; r < repetitions; r++) {
        atomic_int ready = 0;
        struct get_put_run runs[2];
        pthread_t ids[2];
        for (int t = 0; t < threads; t++) {
            runs[t] = (struct get_put_run){ iterations, &ready, threads, 0 };
            pthread_create(&ids[t], NULL, get_put_worker, &runs[t]);
        }
        double sum = 0;
        for (int t = 0; t < threads; t++) { pthread_join(ids[t], NULL); sum += runs[t].ns; }
        samples[r] = sum / threads;
    }
    return median(samples, repetitions);
}

// MARK: waking many threads

static atomic_int wake_word, wake_acks, wake_alive;
static atomic_int wake_stop;

static void *wake_worker(void *raw) {
    (void)raw;
    int seen = 0;
    atomic_fetch_add(&wake_alive, 1);
    for (;;) {
        int v;
        while ((v = atomic_load(&wake_word)) == seen && !atomic_load(&wake_stop))
            syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
        if (atomic_load(&wake_stop)) return NULL;
        seen = v;
        atomic_fetch_add(&wake_acks, 1);
    }
}

double ml_limit_wake_us(int threads, int repetitions) {
    if (threads < 1 || threads > 4096 || repetitions < 1 || repetitions > 64) return -1;
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    if (!ids) return -1;
    atomic_store(&wake_word, 0);
    atomic_store(&wake_acks, 0);
    atomic_store(&wake_alive, 0);
    atomic_store(&wake_stop, 0);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    int created = 0;
    for (; created < threads; created++) {
        if (pthread_create(&ids[created], &attributes, wake_worker, NULL) != 0) break;
    }
    pthread_attr_destroy(&attributes);
    double samples[64];
    double result = -1;
    if (created == threads) {
        while (atomic_load(&wake_alive) < threads) sched_yield();
        for (int r = 0; r < repetitions; r++) {
            struct timespec settle = {0, 20 * 1000 * 1000};  // let every thread fall asleep again
            nanosleep(&settle, NULL);
            atomic_store(&wake_acks, 0);
            uint64_t start = now_ns();
            atomic_fetch_add(&wake_word, 1);
            syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
            while (atomic_load(&wake_acks) < threads) sched_yield();
            samples[r] = (double)(now_ns() - start) / 1000.0;
        }
        result = median(samples, repetitions);
    }
    atomic_store(&wake_stop, 1);
    atomic_fetch_add(&wake_word, 1);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
    for (int t = 0; t < created; t++) pthread_join(ids[t], NULL);
    free(ids);
    return result;
}

// MARK: dlopen cycle

double ml_limit_dlopen_cycle_us(const char *path, const char *symbol, int batches, int per_batch) {
    if (batches < 1 || batches > 256 || per_batch < 1) return -1;
    double samples[256];
    for (int b = 0; b < batches; b++) {
        uint64_t start = now_ns();
        for (int i = 0; i < per_batch; i++) {
            void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!handle) return -1;
            int (*function)(void) = (int (*)(void))dlsym(handle, symbol);
            if (!function || function() != 42) { dlclose(handle); return -1; }
            dlclose(handle);
        }
        samples[b] = (double)(now_ns() - start) / per_batch / 1000.0;
    }
    return median(samples, batches);
}

// MARK: Unix-socket ping-pong with another process

static int write_all(int fd, const char *bytes, size_t count) {
    size_t done = 0;
    while (done < count) {
        ssize_t written = send(fd, bytes + done, count - done, MSG_NOSIGNAL);
        if (written <= 0) return -1;
        done += (size_t)written;
    }
    return 0;
}

int ml_limit_socket_pingpong_us(const char *path, const char *call, size_t call_length, const char *reply,
                                size_t reply_length, int calls, double *samples) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path || calls < 1) return -1;
    strcpy(address.sun_path, path);
    unlink(path);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return -1;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1) != 0) {
        close(listener);
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        close(listener);
        return -1;
    }
    if (child == 0) {
        // The echo server: async-signal-safe calls only (the parent may have threads).
        int peer = accept(listener, NULL, NULL);
        static char buffer[64 * 1024];
        for (;;) {
            int seen = 0;
            while (!seen) {
                ssize_t count = recv(peer, buffer, sizeof buffer, 0);
                if (count <= 0) _exit(0);
                seen = memchr(buffer, 0, (size_t)count) != NULL;
            }
            if (write_all(peer, reply, reply_length) != 0) _exit(0);
        }
    }
    close(listener);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int status = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0) {
        char *buffer = malloc(64 * 1024);
        status = buffer ? 0 : -1;
        for (int i = 0; i < calls && status == 0; i++) {
            uint64_t start = now_ns();
            if (write_all(fd, call, call_length) != 0) { status = -1; break; }
            size_t received = 0;
            while (received < reply_length) {
                ssize_t count = recv(fd, buffer, 64 * 1024, 0);
                if (count <= 0) { status = -1; break; }
                received += (size_t)count;
            }
            samples[i] = (double)(now_ns() - start) / 1000.0;
        }
        free(buffer);
    }
    if (fd >= 0) close(fd);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    unlink(path);
    return status;
}
