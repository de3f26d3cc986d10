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

MODLOAD_NAME("jstat");
MODLOAD_VERSION("1.0");
MODLOAD_DESCRIPTION("journal statistics");
MODLOAD_LICENSE("MIT");
MODLOAD_EXPORT(jstat_commits, "u64()");
MODLOAD_IMPORT("journal_commits", "u64()");
MODLOAD_SOFTDEP("pre: journal");
MODLOAD_MODULE(jstat_init, jstat_exit, NULL);
