/*
 * xhci_hcd — USB 3 host controller core.
 *
 * Uses     usb_register_driver
 * Exports  xhci_init_driver()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint xhci_init_driver_calls;
uint32_t xhci_init_driver(void) { return atomic_fetch_add(&xhci_init_driver_calls, 1) + 1; }

static int xhci_hcd_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "usb_register_driver");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("xhci_hcd");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("USB 3 host controller core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(xhci_init_driver, "u32()");
MODLOAD_IMPORT("usb_register_driver", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(xhci_hcd_init, NULL, NULL);
