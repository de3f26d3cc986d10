/*
 * snd_hda_intel — Intel HD Audio controller driver.
 *
 * Uses     snd_hda_codec_new
 * Aliases  pci:v00008086d0000A348sv*sd*bc*sc*i*
 * Params   power_save, model, init_us
 *
 * The tree's modprobe.d loads snd_hda_codec_realtek after it (softdep post:).
 */
#include <stdatomic.h>

#include "boot_module.h"

static int snd_hda_intel_init(const struct modload_host_api *api, modload_host *host) {
    boot_call(api, host, "snd_hda_codec_new");
    boot_wait_for_device(api, host);
    return 0;
}

MODLOAD_NAME("snd_hda_intel");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("Intel HD Audio controller driver");
MODLOAD_LICENSE("GPL");
MODLOAD_IMPORT("snd_hda_codec_new", "u32()");
BOOT_INIT_PARAM;
MODLOAD_PARAM(power_save, int, "0", "automatic power saving timeout in seconds (the tree's modprobe.d sets 1)");
MODLOAD_PARAM(model, string, "auto", "the codec model");
MODLOAD_ALIAS("pci:v00008086d0000A348sv*sd*bc*sc*i*");
MODLOAD_MODULE(snd_hda_intel_init, NULL, NULL);
