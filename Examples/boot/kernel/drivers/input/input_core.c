/*
 * input_core — Input core.
 *
 * Exports  input_register_device(), input_register_handler()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint input_register_device_calls;
uint32_t input_register_device(void) { return atomic_fetch_add(&input_register_device_calls, 1) + 1; }

static atomic_uint input_register_handler_calls;
uint32_t input_register_handler(void) { return atomic_fetch_add(&input_register_handler_calls, 1) + 1; }

static int input_core_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("input_core");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Input core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(input_register_device, "u32()");
MODLOAD_EXPORT(input_register_handler, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(input_core_init, NULL, NULL);
