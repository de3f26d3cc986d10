/*
 * snd — Advanced Linux Sound Architecture core.
 *
 * Uses     register_sound_special
 * Exports  snd_card_new()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint snd_card_new_calls;
uint32_t snd_card_new(void) { return atomic_fetch_add(&snd_card_new_calls, 1) + 1; }

static int snd_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "register_sound_special");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Advanced Linux Sound Architecture core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(snd_card_new, "u32()");
MODLOAD_IMPORT("register_sound_special", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(snd_init, NULL, NULL);
