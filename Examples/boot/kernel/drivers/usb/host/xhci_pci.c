/*
 * xhci_pci — USB 3 host controller PCI glue.
 *
 * Uses     xhci_init_driver
 * Aliases  pci:v*d*sv*sd*bc0Csc03i30*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int xhci_pci_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "xhci_init_driver");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("xhci_pci");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("USB 3 host controller PCI glue");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("xhci_init_driver", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("pci:v*d*sv*sd*bc0Csc03i30*");
MODLOAD_MODULE(xhci_pci_init, NULL, NULL);
