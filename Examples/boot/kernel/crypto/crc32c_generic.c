/*
 * crc32c_generic — CRC32c (Castagnoli) checksum, generic C.
 *
 * Exports  crc32c()  (u32(): how often it was called)
 * Aliases  crypto-crc32c, crc32c
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint crc32c_calls;
uint32_t crc32c(void) { return atomic_fetch_add(&crc32c_calls, 1) + 1; }

static int crc32c_generic_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("crc32c_generic");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("CRC32c (Castagnoli) checksum, generic C");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(crc32c, "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("crypto-crc32c");
MODLOAD_ALIAS("crc32c");
MODLOAD_MODULE(crc32c_generic_init, NULL, NULL);
