/*
 * snd_hda_codec — HD-audio codec core.
 *
 * Uses     snd_hdac_bus_init
 * Exports  snd_hda_codec_new()  (u32(): how often it was called)
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static atomic_uint snd_hda_codec_new_calls;
uint32_t snd_hda_codec_new(void) { return atomic_fetch_add(&snd_hda_codec_new_calls, 1) + 1; }

static int snd_hda_codec_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "snd_hdac_bus_init");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd_hda_codec");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("HD-audio codec core");
MODLOAD_LICENSE("GPL");
MODLOAD_EXPORT(snd_hda_codec_new, "u32()");
MODLOAD_IMPORT("snd_hdac_bus_init", "u32()");
BOOT_INIT_PARAM;
MODLOAD_MODULE(snd_hda_codec_init, NULL, NULL);
