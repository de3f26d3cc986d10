/*
 * snd_hda_core — HD-audio bus core.
 *
 * Uses     snd_pcm_new
 * Exports  snd_hdac_bus_init()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint snd_hdac_bus_init_calls;
uint32_t snd_hdac_bus_init(void) { return atomic_fetch_add(&snd_hdac_bus_init_calls, 1) + 1; }

static int snd_hda_core_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "snd_pcm_new");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd_hda_core");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("HD-audio bus core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(snd_hdac_bus_init, "u32()");
MODLOAD_IMPORT("snd_pcm_new", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(snd_hda_core_init, NULL, NULL);
