/*
 * hid — HID core.
 *
 * Uses     input_register_device
 * Exports  hid_register_driver()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint hid_register_driver_calls;
uint32_t hid_register_driver(void) { return atomic_fetch_add(&hid_register_driver_calls, 1) + 1; }

static int hid_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "input_register_device");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("hid");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("HID core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(hid_register_driver, "u32()");
MODLOAD_IMPORT("input_register_device", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(hid_init, NULL, NULL);
