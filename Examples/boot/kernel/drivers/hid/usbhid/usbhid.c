/*
 * usbhid — USB HID core driver.
 *
 * Uses     usb_register_driver, hid_register_driver
 * Aliases  usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int usbhid_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "usb_register_driver");
    boot_call(api, host, "hid_register_driver");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("usbhid");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("USB HID core driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("usb_register_driver", "u32()");
MODLOAD_IMPORT("hid_register_driver", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*");
MODLOAD_MODULE(usbhid_init, NULL, NULL);
