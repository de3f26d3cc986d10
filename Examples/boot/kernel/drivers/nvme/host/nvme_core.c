/*
 * nvme_core — NVM Express core.
 *
 * Exports  nvme_init_ctrl()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint nvme_init_ctrl_calls;
uint32_t nvme_init_ctrl(void) { return atomic_fetch_add(&nvme_init_ctrl_calls, 1) + 1; }

static int nvme_core_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("nvme_core");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("NVM Express core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(nvme_init_ctrl, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(nvme_core_init, NULL, NULL);
