/*
 * snd_hda_codec_realtek — Realtek HD-audio codec.
 *
 * Uses     snd_hda_codec_new
 * Aliases  hdaudio:v10EC*r*a01*
 * Params   init_us
 */
#include <stdatomic.h>

#include "boot_module.h"

static int snd_hda_codec_realtek_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "snd_hda_codec_new");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd_hda_codec_realtek");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Realtek HD-audio codec");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("snd_hda_codec_new", "u32()");
BOOT_INIT_PARAM;
MODLOAD_ALIAS("hdaudio:v10EC*r*a01*");
MODLOAD_MODULE(snd_hda_codec_realtek_init, NULL, NULL);
