// Grace periods, reader registration and thread-exit cleanup for the read side in CModloadRCU.h.
#define _GNU_SOURCE
#include "CModloadRCU.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__thread ml_rcu_reader *ml_rcu_self __attribute__((tls_model("initial-exec")));
uint64_t ml_rcu_epoch = 1;
int ml_rcu_reader_fence = 1;  // until membarrier registration succeeds

// Registry of reader threads. Lock rule: held to link/unlink a record and while a writer scans
// the list; never held by a reader's read section.
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static ml_rcu_reader *registry_head;
static int registry_count;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int use_membarrier;

static void unregister_reader(void *raw) {
    ml_rcu_reader *self = raw;
    pthread_mutex_lock(&registry_lock);
    if (self->prev) self->prev->next = self->next; else registry_head = self->next;
    if (self->next) self->next->prev = self->prev;
    registry_count--;
    pthread_mutex_unlock(&registry_lock);
    if (ml_rcu_self == self) ml_rcu_self = 0;
    free(self);
}

static void init_domain(void) {
    pthread_key_create(&exit_key, unregister_reader);
    const char *fence = getenv("MODLOAD_RCU_FENCE");
    if (fence && fence[0] == '1') return;  // readers fence themselves (see the header)
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)
        && syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
        use_membarrier = 1;
        __atomic_store_n(&ml_rcu_reader_fence, 0, __ATOMIC_SEQ_CST);
    }
}

ml_rcu_reader *ml_rcu_register_self(void) {
    pthread_once(&init_once, init_domain);
    ml_rcu_reader *self = 0;
    if (posix_memalign((void **)&self, 64, sizeof *self) != 0) abort();
    self->ctr = 0;
    self->nesting = 0;
    self->prev = 0;
    pthread_mutex_lock(&registry_lock);
    self->next = registry_head;
    if (registry_head) registry_head->prev = self;
    registry_head = self;
    registry_count++;
    pthread_mutex_unlock(&registry_lock);
    pthread_setspecific(exit_key, self);
    ml_rcu_self = self;
    return self;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void barrier_all_threads(void) {
    if (use_membarrier) {
        // Readers rely on this barrier instead of fencing themselves: if it ever failed, grace
        // periods would be silently unsafe. It cannot fail once registered; stop loudly if it does.
        if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
            fprintf(stderr, "modload: membarrier(PRIVATE_EXPEDITED) failed after registration; "
                            "grace periods would be unsafe\n");
            abort();
        }
    } else {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

uint64_t ml_rcu_gp_begin(void) {
    pthread_once(&init_once, init_domain);
    // Every reader thread executes a full barrier: a reader whose entry store is not yet visible
    // will, after this, see everything unpublished before the grace period began.
    barrier_all_threads();
    return __atomic_add_fetch(&ml_rcu_epoch, 1, __ATOMIC_SEQ_CST);
}

int ml_rcu_gp_poll(uint64_t target) {
    int done = 1;
    pthread_mutex_lock(&registry_lock);
    for (ml_rcu_reader *r = registry_head; r; r = r->next) {
        uint64_t ctr = __atomic_load_n(&r->ctr, __ATOMIC_ACQUIRE);
        if (ctr != 0 && ctr < target) { done = 0; break; }
    }
    pthread_mutex_unlock(&registry_lock);
    return done;
}

void ml_rcu_gp_end(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void ml_rcu_synchronize(void) {
    uint64_t target = ml_rcu_gp_begin();
    for (unsigned attempt = 0; !ml_rcu_gp_poll(target); attempt++) {
        if (attempt < 64) {
            cpu_relax();
        } else if (attempt < 128) {
            sched_yield();
        } else {
            struct timespec pause = {0, attempt < 1024 ? 10000 : 200000};  // 10 µs, then 200 µs
            nanosleep(&pause, 0);
        }
    }
    ml_rcu_gp_end();
}

int ml_rcu_registered_readers(void) {
    pthread_mutex_lock(&registry_lock);
    int n = registry_count;
    pthread_mutex_unlock(&registry_lock);
    return n;
}

int ml_rcu_uses_membarrier(void) {
    pthread_once(&init_once, init_domain);
    return use_membarrier;
}
