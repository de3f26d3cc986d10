/*
 * i2c_core — I2C core.
 *
 * Exports  i2c_add_adapter()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint i2c_add_adapter_calls;
uint32_t i2c_add_adapter(void) { return atomic_fetch_add(&i2c_add_adapter_calls, 1) + 1; }

static int i2c_core_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("i2c_core");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("I2C core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(i2c_add_adapter, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(i2c_core_init, NULL, NULL);
