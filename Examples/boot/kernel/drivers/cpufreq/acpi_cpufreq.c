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

typedef uint32_t (*slot_fn)(const char *);

static int acpi_cpufreq_init(const struct modload_host_api *api, modload_host *host) {
    slot_fn register_driver = (slot_fn)api->symbol(host, "cpufreq_register_driver");
    boot_wait_for_device(api, host);
    uint32_t result = register_driver ? register_driver("acpi_cpufreq") : ENOENT;
    if (result != 0) {
        api->log(host, MODLOAD_LOG_INFO, "another frequency driver holds the cpufreq slot: no device");
        return -(int)result;
    }
    return 0;
}

static void acpi_cpufreq_exit(const struct modload_host_api *api, modload_host *host) {
    slot_fn unregister_driver = (slot_fn)api->symbol(host, "cpufreq_unregister_driver");
    if (unregister_driver) unregister_driver("acpi_cpufreq");
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
