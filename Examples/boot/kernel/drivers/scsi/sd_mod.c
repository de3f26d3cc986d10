/*
 * sd_mod — SCSI disk driver.
 *
 * Uses     scsi_add_host
 * Aliases  scsi:t-0x00*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int sd_mod_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "scsi_add_host");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("sd_mod");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("SCSI disk driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("scsi_add_host", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("scsi:t-0x00*");
MODLOAD_MODULE(sd_mod_init, NULL, NULL);
