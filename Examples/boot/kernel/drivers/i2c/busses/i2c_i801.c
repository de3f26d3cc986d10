/*
 * i2c_i801 — Intel 82801 SMBus driver.
 *
 * Uses     i2c_add_adapter
 * Aliases  pci:v00008086d0000A323sv*sd*bc*sc*i*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int i2c_i801_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "i2c_add_adapter");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("i2c_i801");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel 82801 SMBus driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("i2c_add_adapter", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("pci:v00008086d0000A323sv*sd*bc*sc*i*");
MODLOAD_MODULE(i2c_i801_init, NULL, NULL);
