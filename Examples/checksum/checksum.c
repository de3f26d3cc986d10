/*
 * checksum — a module file written in C: CRC-32C (Castagnoli), the checksum ext4 and jbd2 use.
 *
 * Exports  checksum_crc32c  u32(u32,ptr,usize)  crc = checksum_crc32c(seed, bytes, length)
 *          checksum_inits   u32()               how often init ran in this image
 * Params   seed (int)       logged at init
 *          request (string) a module init requests first (fails the load if the request fails)
 *          refuse (bool)    cleanup refuses unloading (-EBUSY)
 *          fail (bool)      init fails with -ENODEV (after the request)
 *
 * Aliases  crc32c, crypto-crc32c
 *
 * Build:   cc -shared -fPIC -O2 -I Sources/CModloadABI/include Examples/checksum/checksum.c \
 *             -o libchecksum.so
 *          (-DCHECKSUM_NONCOUNTING makes it a noncounting module: callers call in inside read
 *          sections instead of holding references; -DCHECKSUM_VERSION='"2.0"' gives a rebuilt
 *          copy another version, for a live replace.)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "modload.h"

static uint32_t table[256];
static uint32_t inits;

uint32_t checksum_crc32c(uint32_t crc, const void *data, size_t length) {
    const uint8_t *bytes = data;
    crc = ~crc;
    while (length--) crc = table[(crc ^ *bytes++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t checksum_inits(void) { return inits; }

static int is_yes(const char *value) { return value && value[0] == 'Y'; }

static int checksum_init(const struct modload_host_api *api, modload_host *host) {
    const char *dependency = api->parameter(host, "request");
    if (dependency && dependency[0]) {
        int result = api->request(host, dependency);
        if (result != 0) return result;
    }
    if (is_yes(api->parameter(host, "fail"))) {
        api->log(host, MODLOAD_LOG_INFO, "no device to checksum for (fail=Y)");
        return -ENODEV;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
        table[i] = crc;
    }
    inits++;
    const char *seed = api->parameter(host, "seed");
    char line[96];
    snprintf(line, sizeof line, "crc32c ready (seed %s, check %08x)", seed ? seed : "0",
             checksum_crc32c(0, "123456789", 9));
    api->log(host, MODLOAD_LOG_INFO, line);
    return 0;
}

static int checksum_cleanup(const struct modload_host_api *api, modload_host *host) {
    return is_yes(api->parameter(host, "refuse")) ? -EBUSY : 0;
}

static void checksum_exit(const struct modload_host_api *api, modload_host *host) {
    api->log(host, MODLOAD_LOG_INFO, "crc32c gone");
}

MODLOAD_NAME("checksum");
#ifndef CHECKSUM_VERSION
#define CHECKSUM_VERSION "1.0"
#endif
MODLOAD_VERSION(CHECKSUM_VERSION);
MODLOAD_DESCRIPTION("CRC-32C (Castagnoli) checksums");
MODLOAD_LICENSE("MIT");
MODLOAD_EXPORT(checksum_crc32c, "u32(u32,ptr,usize)");
MODLOAD_EXPORT(checksum_inits, "u32()");
MODLOAD_PARAM(seed, int, "0", "seed for the self-test");
MODLOAD_PARAM_NODEFAULT(request, string, "a module to request during init");
MODLOAD_PARAM(refuse, bool, "n", "cleanup refuses to unload");
MODLOAD_PARAM(fail, bool, "n", "init fails with -ENODEV");
MODLOAD_ALIAS("crc32c");
MODLOAD_ALIAS("crypto-crc32c");

#ifdef CHECKSUM_NONCOUNTING
MODLOAD_NONCOUNTING_MODULE(checksum_init, checksum_exit, checksum_cleanup);
#else
MODLOAD_MODULE(checksum_init, checksum_exit, checksum_cleanup);
#endif
