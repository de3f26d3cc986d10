/*
 * cpufreq — CPU frequency scaling core: the one slot a frequency driver registers in.
 *
 * Exports  cpufreq_register_driver(name)    u32(ptr): 0, or ENODEV if another driver holds the slot
 *          cpufreq_unregister_driver(name)  u32(ptr): 0, or ENOENT if `name` does not hold it
 * Params   init_us
 *
 * The 288-CPU boot's cause: intel_pstate registers first, so acpi_cpufreq and pcc_cpufreq — asked
 * for by every CPU — find the slot taken and fail in init with "no device".
 */
#include <pthread.h>
#include <string.h>

#include "boot_module.h"

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static char slot[MODLOAD_NAME_MAX + 1];  /* the registered driver's name, or "" */

uint32_t cpufreq_register_driver(const char *name) {
    pthread_mutex_lock(&slot_lock);
    uint32_t result = ENODEV;
    if (slot[0] == 0) {
        snprintf(slot, sizeof slot, "%s", name);
        result = 0;
    }
    pthread_mutex_unlock(&slot_lock);
    return result;
}

uint32_t cpufreq_unregister_driver(const char *name) {
    pthread_mutex_lock(&slot_lock);
    uint32_t result = ENOENT;
    if (strcmp(slot, name) == 0) {
        slot[0] = 0;
        result = 0;
    }
    pthread_mutex_unlock(&slot_lock);
    return result;
}

static int cpufreq_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("cpufreq");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("CPU frequency scaling core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(cpufreq_register_driver, "u32(ptr)");
MODLOAD_EXPORT(cpufreq_unregister_driver, "u32(ptr)");
BOOT_INIT_PARAM;
MODLOAD_MODULE(cpufreq_init, NULL, NULL);
