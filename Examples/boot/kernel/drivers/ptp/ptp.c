/*
 * ptp — PTP hardware clock support.
 *
 * Uses     pps_register_source
 * Exports  ptp_clock_register()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint ptp_clock_register_calls;
uint32_t ptp_clock_register(void) { return atomic_fetch_add(&ptp_clock_register_calls, 1) + 1; }

static int ptp_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "pps_register_source");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("ptp");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("PTP hardware clock support");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(ptp_clock_register, "u32()");
MODLOAD_IMPORT("pps_register_source", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(ptp_init, NULL, NULL);
