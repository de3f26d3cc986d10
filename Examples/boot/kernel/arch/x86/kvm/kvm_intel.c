/*
 * kvm_intel — KVM support for Intel VMX.
 *
 * Uses     kvm_init
 * Aliases  cpu:type:x86,ven*fam*mod*:feature:*0085*
 * Params   nested, init_us
 *
 * Requested by every CPU's modalias (feature 0085: VMX).
 */
#include <stdatomic.h>

#include "boot_module.h"

static int kvm_intel_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "kvm_init");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("kvm_intel");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("KVM support for Intel VMX");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("kvm_init", "u32()");
BOOT_INIT_PARAM;
MODLOAD_PARAM(nested, bool, "n", "expose VMX to guests (the tree's modprobe.d sets it)");
MODLOAD_ALIAS("cpu:type:x86,ven*fam*mod*:feature:*0085*");
MODLOAD_MODULE(kvm_intel_init, NULL, NULL);
