/*
 * libata — ATA core.
 *
 * Uses     scsi_add_host
 * Exports  ata_host_activate()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint ata_host_activate_calls;
uint32_t ata_host_activate(void) { return atomic_fetch_add(&ata_host_activate_calls, 1) + 1; }

static int libata_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "scsi_add_host");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("libata");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("ATA core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(ata_host_activate, "u32()");
MODLOAD_IMPORT("scsi_add_host", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(libata_init, NULL, NULL);
