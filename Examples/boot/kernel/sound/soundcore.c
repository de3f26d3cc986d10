/*
 * soundcore — Sound core.
 *
 * Exports  register_sound_special()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint register_sound_special_calls;
uint32_t register_sound_special(void) { return atomic_fetch_add(&register_sound_special_calls, 1) + 1; }

static int soundcore_init(const struct modload_host_api *api, modload_host *host) {
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("soundcore");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Sound core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(register_sound_special, "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(soundcore_init, NULL, NULL);
