/*
 * iTCO_wdt — Intel TCO watchdog.
 *
 * Aliases  platform:iTCO_wdt
 * Params   heartbeat, init_us
 *
 * Blacklisted by the tree's modprobe.d: its alias finds nothing; a request by name still loads it.
 */
#include <stdatomic.h>

#include "boot_module.h"

static int iTCO_wdt_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("iTCO_wdt");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel TCO watchdog");
MODLOAD_LICENSE("GPL");
BOOT_INIT_PARAM;
MODLOAD_PARAM(heartbeat, int, "30", "watchdog heartbeat in seconds");
MODLOAD_ALIAS("platform:iTCO_wdt");
MODLOAD_MODULE(iTCO_wdt_init, NULL, NULL);
