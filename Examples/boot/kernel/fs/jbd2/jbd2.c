/*
 * jbd2 — Journalling block device, version 2.
 *
 * Uses     crc32c
 * Exports  jbd2_journal_start()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint jbd2_journal_start_calls;
uint32_t jbd2_journal_start(void) { return atomic_fetch_add(&jbd2_journal_start_calls, 1) + 1; }

static int jbd2_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "crc32c");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("jbd2");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Journalling block device, version 2");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(jbd2_journal_start, "u32()");
MODLOAD_IMPORT("crc32c", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(jbd2_init, NULL, NULL);
