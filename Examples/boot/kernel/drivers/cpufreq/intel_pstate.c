/*
 * intel_pstate — Intel P-state CPU frequency driver.
 *
 * Uses     cpufreq_register_driver, cpufreq_unregister_driver
 * Aliases  cpu:type:x86,ven0000fam0006mod*:feature:*
 * Params   init_us
 *
 * Loaded first, at early boot: it takes the cpufreq slot.
 */
#include "boot_module.h"

static int intel_pstate_init(const struct modload_host_api *api, modload_host *host) {
    return boot_cpufreq_register(api, host, "intel_pstate");
}

static void intel_pstate_exit(const struct modload_host_api *api, modload_host *host) {
    boot_cpufreq_unregister(api, host, "intel_pstate");
}

MODLOAD_NAME("intel_pstate");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel P-state CPU frequency driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("cpufreq_register_driver", "u32(ptr)");
MODLOAD_IMPORT("cpufreq_unregister_driver", "u32(ptr)");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("cpu:type:x86,ven0000fam0006mod*:feature:*");
MODLOAD_MODULE(intel_pstate_init, intel_pstate_exit, NULL);
