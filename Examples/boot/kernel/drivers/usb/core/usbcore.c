/*
 * usbcore — USB core.
 *
 * Uses     usb_speed_string
 * Exports  usb_register_driver()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint usb_register_driver_calls;
uint32_t usb_register_driver(void) { return atomic_fetch_add(&usb_register_driver_calls, 1) + 1; }

static int usbcore_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "usb_speed_string");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("usbcore");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("USB core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(usb_register_driver, "u32()");
MODLOAD_IMPORT("usb_speed_string", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(usbcore_init, NULL, NULL);
