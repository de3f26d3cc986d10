/*
 * igb — Intel Gigabit Ethernet network driver.
 *
 * Uses     ptp_clock_register
 * Aliases  pci:v00008086d00001533sv*sd*bc*sc*i*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int igb_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "ptp_clock_register");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("igb");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel Gigabit Ethernet network driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("ptp_clock_register", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("pci:v00008086d00001533sv*sd*bc*sc*i*");
MODLOAD_MODULE(igb_init, NULL, NULL);
