/*
 * pcc_cpufreq — Processor Clocking Control frequency driver.
 *
 * Uses     cpufreq_register_driver, cpufreq_unregister_driver
 * Aliases  acpi*:LNXCPU:*
 * Params   init_us
 *
 * Asked for once by every CPU; fails in init with ENODEV while intel_pstate holds the slot.
 */
#include "boot_module.h"

static int pcc_cpufreq_init(const struct modload_host_api *api, modload_host *host) {
    return boot_cpufreq_register(api, host, "pcc_cpufreq");
}

static void pcc_cpufreq_exit(const struct modload_host_api *api, modload_host *host) {
    boot_cpufreq_unregister(api, host, "pcc_cpufreq");
}

MODLOAD_NAME("pcc_cpufreq");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Processor Clocking Control frequency driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("cpufreq_register_driver", "u32(ptr)");
MODLOAD_IMPORT("cpufreq_unregister_driver", "u32(ptr)");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("acpi*:LNXCPU:*");
MODLOAD_MODULE(pcc_cpufreq_init, pcc_cpufreq_exit, NULL);
