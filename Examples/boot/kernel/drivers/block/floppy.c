/*
 * floppy — PC floppy disk driver.
 *
 * Aliases  pnp:dPNP0700*
 * Params   init_us
 *
 * Denied by the tree's modprobe.d: never loaded, however it is asked for.
 */
#include <stdatomic.h>

#include "boot_module.h"

static int floppy_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("floppy");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("PC floppy disk driver");
MODLOAD_LICENSE("GPL");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("pnp:dPNP0700*");
MODLOAD_MODULE(floppy_init, NULL, NULL);
