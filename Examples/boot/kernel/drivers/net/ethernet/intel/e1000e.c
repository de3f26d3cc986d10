/*
 * e1000e — Intel PRO/1000 network driver.
 *
 * Uses     ptp_clock_register
 * Aliases  pci:v00008086d000015B8sv*sd*bc*sc*i*
 * Params   debug, init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int e1000e_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "ptp_clock_register");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("e1000e");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel PRO/1000 network driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("ptp_clock_register", "u32()");
BOOT_INIT_PARAM;
MODLOAD_PARAM(debug, int, "0", "debug level");
MODLOAD_ALIAS("pci:v00008086d000015B8sv*sd*bc*sc*i*");
MODLOAD_MODULE(e1000e_init, NULL, NULL);
