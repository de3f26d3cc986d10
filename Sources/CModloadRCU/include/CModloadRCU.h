// The read side of Modload's quiescence domain (docs/design.md §7): userspace RCU, "memb" flavour.
//
// Readers: each thread owns one `ml_rcu_reader` record, reached through a thread-local pointer.
// Entering the outermost read section stores the current epoch in the record's `ctr`; leaving
// stores 0. Nesting is counted in the record and costs nothing shared. No atomic read-modify-write,
// no lock: a read section is two thread-local stores and a compiler barrier, inlined into the
// caller (these functions are `static inline` so Swift inlines them too).
//
// Writers (synchronize): membarrier(PRIVATE_EXPEDITED) makes every thread of the process execute
// a full barrier, which is what lets readers use only a compiler barrier; then the epoch is
// incremented, and the writer waits until no registered reader is inside a section that began
// with an older epoch. Readers that entered later have already seen what was unpublished before
// synchronize began. Where membarrier is unavailable, readers fall back to a full fence (also
// when the environment sets MODLOAD_RCU_FENCE=1 before the first read section: a diagnostic
// switch, and how tests run the fallback on machines that have membarrier).
//
// Threads register on their first read section and unregister when they exit (a pthread key
// destructor), so a grace period never waits for exited or idle threads.
#ifndef CMODLOAD_RCU_H
#define CMODLOAD_RCU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One reader thread's record. `ctr` is written only by its thread and read by writers; the
/// registry links are guarded by the registry lock. Cache-line aligned: no false sharing.
typedef struct ml_rcu_reader {
    uint64_t ctr;        // 0: quiescent; otherwise the epoch at the outermost section's entry
    uint64_t nesting;    // read-section depth; touched only by the owning thread
    struct ml_rcu_reader *next;
    struct ml_rcu_reader *prev;
} __attribute__((aligned(64))) ml_rcu_reader;

/// This thread's record, or NULL before its first read section.
extern __thread ml_rcu_reader *ml_rcu_self __attribute__((tls_model("initial-exec")));
/// The grace-period epoch; starts at 1, incremented by every synchronize.
extern uint64_t ml_rcu_epoch;
/// Nonzero when membarrier is unavailable and readers must fence themselves.
extern int ml_rcu_reader_fence;

/// Slow path: registers the calling thread (first read section only).
ml_rcu_reader *ml_rcu_register_self(void);

static inline __attribute__((always_inline)) void ml_rcu_read_lock(void) {
    ml_rcu_reader *self = ml_rcu_self;
    if (__builtin_expect(self == 0, 0)) self = ml_rcu_register_self();
    if (self->nesting++ == 0) {
        __atomic_store_n(&self->ctr, __atomic_load_n(&ml_rcu_epoch, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
        if (__builtin_expect(ml_rcu_reader_fence, 0)) __atomic_thread_fence(__ATOMIC_SEQ_CST);
        else __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
}

static inline __attribute__((always_inline)) void ml_rcu_read_unlock(void) {
    ml_rcu_reader *self = ml_rcu_self;
    if (--self->nesting == 0) __atomic_store_n(&self->ctr, 0, __ATOMIC_RELEASE);
}

/// Nonzero if the calling thread is inside a read section.
static inline int ml_rcu_in_read_section(void) {
    ml_rcu_reader *self = ml_rcu_self;
    return self != 0 && self->nesting != 0;
}

/// Starts a grace period: barrier on every thread, then a new epoch. Returns the epoch to wait for.
uint64_t ml_rcu_gp_begin(void);
/// Nonzero once no registered reader is in a section that began before epoch `target`.
int ml_rcu_gp_poll(uint64_t target);
/// Ends a grace period (orders the caller's later frees after the readers it waited for).
void ml_rcu_gp_end(void);
/// A whole grace period, blocking the calling thread: spins briefly, then yields, then sleeps.
void ml_rcu_synchronize(void);
/// Number of registered reader threads (for tests and figures).
int ml_rcu_registered_readers(void);
/// The current grace-period epoch (for tests: it moves when a grace period begins).
static inline uint64_t ml_rcu_epoch_now(void) { return __atomic_load_n(&ml_rcu_epoch, __ATOMIC_ACQUIRE); }
/// Nonzero if readers rely on membarrier (no reader-side fence).
int ml_rcu_uses_membarrier(void);

#ifdef __cplusplus
}
#endif
#endif
