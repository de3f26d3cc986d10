/*
 * ahci — AHCI SATA low-level driver.
 *
 * Uses     ahci_init_controller
 * Aliases  pci:v*d*sv*sd*bc01sc06i01*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int ahci_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "ahci_init_controller");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("ahci");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("AHCI SATA low-level driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("ahci_init_controller", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("pci:v*d*sv*sd*bc01sc06i01*");
MODLOAD_MODULE(ahci_init, NULL, NULL);
