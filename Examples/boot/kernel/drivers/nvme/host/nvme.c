/*
 * nvme — NVM Express PCIe driver.
 *
 * Uses     nvme_init_ctrl
 * Aliases  pci:v*d*sv*sd*bc01sc08i02*
 * Params   io_queue_depth, init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int nvme_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "nvme_init_ctrl");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("nvme");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("NVM Express PCIe driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("nvme_init_ctrl", "u32()");
BOOT_INIT_PARAM;
MODLOAD_PARAM(io_queue_depth, int, "1024", "submission queue depth (the tree's modprobe.d sets 256)");
MODLOAD_ALIAS("pci:v*d*sv*sd*bc01sc08i02*");
MODLOAD_MODULE(nvme_init, NULL, NULL);
