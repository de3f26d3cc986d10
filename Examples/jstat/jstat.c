/*
 * jstat — a module file written in C that uses a module written in Swift: it imports the
 * journal's commit counter and reports it. While jstat is loaded, journal cannot be unloaded.
 *
 * Imports  journal_commits  u64()   from journal (Swift)
 * Exports  jstat_commits    u64()   the journal's commits, through the import
 *
 * Build:   cc -shared -fPIC -O2 -I Sources/CModloadABI/include Examples/jstat/jstat.c -o libjstat.so
 */
#include <stdio.h>

#include "modload.h"

typedef uint64_t (*commits_fn)(void);
static commits_fn journal_commits;

uint64_t jstat_commits(void) { return journal_commits ? journal_commits() : 0; }

static int jstat_init(const struct modload_host_api *api, modload_host *host) {
    journal_commits = (commits_fn)api->symbol(host, "journal_commits");
    char line[64];
    snprintf(line, sizeof line, "watching the journal: %llu commits so far",
             (unsigned long long)journal_commits());
    api->log(host, MODLOAD_LOG_INFO, line);
    return 0;
}

static void jstat_exit(const struct modload_host_api *api, modload_host *host) {
    (void)api;
    (void)host;
    journal_commits = NULL;
}

static const struct modload_export exports[] = {
    { "jstat_commits", "u64()", (const void *)jstat_commits },
};

static const struct modload_import imports[] = {
    { "journal_commits", "u64()" },
};

static const struct modload_descriptor descriptor = {
    .abi_version = MODLOAD_ABI_VERSION,
    .size = sizeof(struct modload_descriptor),
    .name = "jstat",
    .version = "1.0",
    .description = "journal statistics",
    .license = "MIT",
    .accounting = MODLOAD_COUNTING,
    .init = jstat_init,
    .exit = jstat_exit,
    .exports = exports,
    .export_count = 1,
    .imports = imports,
    .import_count = 1,
};

MODLOAD_MODULE(descriptor)
