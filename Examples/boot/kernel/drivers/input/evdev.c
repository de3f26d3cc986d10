/*
 * evdev — Input driver event char devices.
 *
 * Uses     input_register_handler
 * Aliases  input:b*v*p*e*-e*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int evdev_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "input_register_handler");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("evdev");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Input driver event char devices");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("input_register_handler", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("input:b*v*p*e*-e*");
MODLOAD_MODULE(evdev_init, NULL, NULL);
