/*
 * What every module of the boot's demo tree shares: the `init_us` parameter (the boot's
 * --init-ms, given to every module through modprobe.d options) and the init step that spends it.
 *
 * A driver of this tree does what a small Linux driver does at probe time, in miniature: it takes
 * the functions of the modules it uses (bound by the host before init runs), calls them once,
 * spends `init_us` (the time a real probe waits for hardware), and registers what it exports.
 */
#ifndef BOOT_MODULE_H
#define BOOT_MODULE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "modload.h"

/* The parameter every module of the tree takes. */
#define BOOT_INIT_PARAM MODLOAD_PARAM(init_us, int, "0", "how long init waits for its device, in microseconds")

/* Spends this load's `init_us`. */
static inline void boot_wait_for_device(const struct modload_host_api *api, modload_host *host) {
    const char *value = api->parameter(host, "init_us");
    long us = value ? strtol(value, NULL, 10) : 0;
    if (us <= 0) return;
    struct timespec pause = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
}

/* A function `name` of signature u32() this module imports: called once, as a probe uses the
 * layer below it. 0 if the host did not bind it (it always does for a declared import). */
static inline uint32_t boot_call(const struct modload_host_api *api, modload_host *host, const char *name) {
    uint32_t (*function)(void) = (uint32_t (*)(void))api->symbol(host, name);
    return function ? function() : 0;
}

/* The cpufreq slot (module cpufreq): a frequency driver's init registers `name` in it — 0, or
 * -ENODEV when another driver holds it — and its exit unregisters it. */
typedef uint32_t (*boot_cpufreq_slot_fn)(const char *);

static inline int boot_cpufreq_register(const struct modload_host_api *api, modload_host *host, const char *name) {
    boot_cpufreq_slot_fn register_driver = (boot_cpufreq_slot_fn)api->symbol(host, "cpufreq_register_driver");
    boot_wait_for_device(api, host);
    uint32_t result = register_driver ? register_driver(name) : ENOENT;
    if (result != 0) {
        api->log(host, MODLOAD_LOG_INFO, "another frequency driver holds the cpufreq slot: no device");
        return -(int)result;
    }
    return 0;
}

static inline void boot_cpufreq_unregister(const struct modload_host_api *api, modload_host *host, const char *name) {
    boot_cpufreq_slot_fn unregister_driver = (boot_cpufreq_slot_fn)api->symbol(host, "cpufreq_unregister_driver");
    if (unregister_driver) unregister_driver(name);
}

#endif
