/*
 * scsi_mod — SCSI core.
 *
 * Exports  scsi_add_host()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint scsi_add_host_calls;
uint32_t scsi_add_host(void) { return atomic_fetch_add(&scsi_add_host_calls, 1) + 1; }

static int scsi_mod_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("scsi_mod");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("SCSI core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(scsi_add_host, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(scsi_mod_init, NULL, NULL);
