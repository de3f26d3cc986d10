/*
 * libahci — Common AHCI SATA functions.
 *
 * Uses     ata_host_activate
 * Exports  ahci_init_controller()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint ahci_init_controller_calls;
uint32_t ahci_init_controller(void) { return atomic_fetch_add(&ahci_init_controller_calls, 1) + 1; }

static int libahci_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "ata_host_activate");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("libahci");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Common AHCI SATA functions");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(ahci_init_controller, "u32()");
MODLOAD_IMPORT("ata_host_activate", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(libahci_init, NULL, NULL);
