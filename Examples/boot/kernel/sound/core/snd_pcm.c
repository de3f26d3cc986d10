/*
 * snd_pcm — ALSA PCM middle layer.
 *
 * Uses     snd_timer_new, snd_card_new
 * Exports  snd_pcm_new()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint snd_pcm_new_calls;
uint32_t snd_pcm_new(void) { return atomic_fetch_add(&snd_pcm_new_calls, 1) + 1; }

static int snd_pcm_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "snd_timer_new");
    boot_call(api, host, "snd_card_new");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd_pcm");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("ALSA PCM middle layer");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(snd_pcm_new, "u32()");
MODLOAD_IMPORT("snd_timer_new", "u32()");
MODLOAD_IMPORT("snd_card_new", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(snd_pcm_init, NULL, NULL);
