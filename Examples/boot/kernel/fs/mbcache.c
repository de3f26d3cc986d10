/*
 * mbcache — Metadata block cache.
 *
 * Exports  mb_cache_create()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint mb_cache_create_calls;
uint32_t mb_cache_create(void) { return atomic_fetch_add(&mb_cache_create_calls, 1) + 1; }

static int mbcache_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("mbcache");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Metadata block cache");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(mb_cache_create, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(mbcache_init, NULL, NULL);
