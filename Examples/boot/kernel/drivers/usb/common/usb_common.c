/*
 * usb_common — Common code for host and device side USB.
 *
 * Exports  usb_speed_string()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint usb_speed_string_calls;
uint32_t usb_speed_string(void) { return atomic_fetch_add(&usb_speed_string_calls, 1) + 1; }

static int usb_common_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("usb_common");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Common code for host and device side USB");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(usb_speed_string, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(usb_common_init, NULL, NULL);
