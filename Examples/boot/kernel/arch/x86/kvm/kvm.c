/*
 * kvm — Kernel-based Virtual Machine core.
 *
 * Exports  kvm_init()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint kvm_init_calls;
uint32_t kvm_init(void) { return atomic_fetch_add(&kvm_init_calls, 1) + 1; }

static int kvm_module_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("kvm");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Kernel-based Virtual Machine core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(kvm_init, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(kvm_module_init, NULL, NULL);
