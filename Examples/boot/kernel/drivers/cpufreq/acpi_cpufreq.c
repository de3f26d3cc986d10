/*
 * acpi_cpufreq — ACPI processor P-states frequency driver.
 *
 * Uses     cpufreq_register_driver, cpufreq_unregister_driver
 * Aliases  acpi*:ACPI0007:*
 * Params   init_us
 *
 * Asked for twice by every CPU; fails in init with ENODEV while intel_pstate holds the slot.
 */
#include "boot_module.h"

static int acpi_cpufreq_init(const struct modload_host_api *api, modload_host *host) {
    return boot_cpufreq_register(api, host, "acpi_cpufreq");
}

static void acpi_cpufreq_exit(const struct modload_host_api *api, modload_host *host) {
    boot_cpufreq_unregister(api, host, "acpi_cpufreq");
}

MODLOAD_NAME("acpi_cpufreq");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("ACPI processor P-states frequency driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("cpufreq_register_driver", "u32(ptr)");
MODLOAD_IMPORT("cpufreq_unregister_driver", "u32(ptr)");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("acpi*:ACPI0007:*");
MODLOAD_MODULE(acpi_cpufreq_init, acpi_cpufreq_exit, NULL);
