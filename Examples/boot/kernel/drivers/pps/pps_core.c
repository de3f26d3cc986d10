/*
 * pps_core — Pulse-per-second support.
 *
 * Exports  pps_register_source()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint pps_register_source_calls;
uint32_t pps_register_source(void) { return atomic_fetch_add(&pps_register_source_calls, 1) + 1; }

static int pps_core_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("pps_core");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Pulse-per-second support");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(pps_register_source, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(pps_core_init, NULL, NULL);
