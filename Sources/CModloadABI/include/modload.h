/*
 * modload.h — the Modload module-file ABI, version 2.
 *
 * A module file is an ELF shared object (64-bit, for the host's machine) that carries two things:
 *
 *   - its metadata, in an ELF section of its own, `.modload_info`: plain NUL-terminated strings,
 *     no pointers, nothing to relocate (the kernel's `.modinfo`). `modload modinfo`, `depmod` and
 *     a load's first checks read it from the file's bytes without mapping or running anything;
 *   - one exported function, named after the ABI version it was built for:
 *         const struct modload_descriptor *modload_module_descriptor_v2(void);
 *     returning a descriptor that stays valid, unchanged, for as long as the file is mapped, and
 *     doing nothing else (no allocation that matters, no calls into the host). It says the same
 *     as the metadata section, and adds the code: entry points and export addresses.
 *
 * Write both with the macros below (C: MODLOAD_NAME ... MODLOAD_MODULE, each fact declared once),
 * or with the ModloadModule library (Swift: a ModuleDescription and @_cdecl, then `modload seal`
 * writes the section from the descriptor after linking, as the kernel's modpost writes `.modinfo`
 * entries after compiling). Everything crosses this boundary as C: names and signatures are
 * NUL-terminated UTF-8 strings, entry points are C functions, symbol values are addresses, errors
 * are negative errnos. Nothing Swift-specific crosses it, so a module can be written in C, Swift,
 * Rust or Zig.
 *
 * What the host checks, in order, before any code of the module runs:
 *   1. the file: ELF magic, class, byte order, type (a shared object, not an executable), machine,
 *      every header, segment and section inside the file, no trailing bytes except a signature;
 *   2. everything the dynamic linker will follow: loadable segments (in order, no overlap, each
 *      inside the file), the dynamic section and its tables (strings, symbols, SysV and GNU hash
 *      tables, symbol versions), every relocation (a type known for the machine, writing inside a
 *      writable segment, its symbol inside the symbol table, a relative one pointing into the
 *      image), initializers and finalizers (DT_INIT, DT_INIT_ARRAY, DT_FINI, DT_FINI_ARRAY) pointing
 *      at code, DT_NEEDED names; no text relocations, no executable stack, no interpreter;
 *   3. the descriptor symbol: the file must export modload_module_descriptor_v2; a file exporting
 *      only another version (modload_module_descriptor_vN) is refused as built for ABI N;
 *   4. the signature and the host's signature policy (see "Signed module files" below);
 *   5. the metadata section (format below): present, well formed, for ABI 2; a file with Swift
 *      code must have been built by the host's own Swift toolchain (the compiler's `.comment`
 *      line names it: Swift has no stable ABI on Linux, and two runtimes in one process break);
 * then it maps exactly the bytes it checked (a sealed private copy, so a file changed or swapped
 * on disk meanwhile cannot run instead), which runs the file's ELF constructors as every dlopen
 * does, calls the descriptor function, and checks the descriptor before calling any entry point:
 *   6. every pointer in it points into the file's own loaded segments (strings and arrays wholly
 *      inside one; entry points and function exports at a function of the file's, in code), every
 *      string is NUL-terminated within 4096 bytes;
 *   7. abi_version == 2, size >= the size of version 2's descriptor, reserved fields zero, counts
 *      and arrays consistent, names and signatures present, export and parameter names unique;
 *   8. it agrees with the metadata section field by field (a file whose two disagree is refused,
 *      naming the field and both values);
 * and binds the imports (name and signature must both match an export of a live module) before
 * init runs. Any failure: a clear error naming the file, nothing loaded, the host unchanged.
 *
 * What cannot be checked: machine code itself. A file whose functions are wrong can do anything
 * once they run — which is what signatures (below) and the enforce policy are for.
 *
 * Threads: the host calls entry points on threads of its own (never on Swift's cooperative pool),
 * so an entry point may block. It never calls two entry points of one module at once. Exports may
 * be called by other modules on any thread, at any time between init's start and exit's return.
 *
 * Compatibility: a host accepts exactly the ABI versions it knows (this header: 2). Version 2 added
 * the metadata section and the descriptor's aliases and softdep. Fields are only ever added at
 * the end of a struct; `size` says how much of it the other side filled in.
 *
 * The metadata section, `.modload_info`: a sequence of NUL-terminated UTF-8 strings `key=value`
 * (at most 4096 bytes each, 1 MiB in all; keys in any order), the kernel's `.modinfo` format:
 *     abi=2                        the ABI version (required, once)
 *     name=NAME                    1-55 bytes of [A-Za-z0-9_-] (required, once)
 *     version=TEXT                 free-form (required, once)
 *     description=TEXT             one line (required, once)
 *     license=TEXT                 "GPL", "MIT", ... (required, once)
 *     accounting=counting          or `noncounting` (at most once; default counting)
 *     export=SYMBOL SIGNATURE      one per export, e.g. `export=checksum_crc32c u32(u32,ptr,usize)`
 *     import=SYMBOL SIGNATURE      one per import
 *     parmtype=NAME:TYPE           one per parameter; TYPE is bool, int, string or list
 *     parm=NAME:DESCRIPTION        a parameter's one-line description (optional)
 *     parmdefault=NAME:VALUE       a parameter's default, as written after '=' (optional)
 *     alias=PATTERN                a name it is also requested by: a glob (`*`, `?`, `[...]`) as
 *                                  kmod matches them, e.g. `alias=pci:v00008086d000015B8*`
 *     softdep=pre: A B post: C     modules to load before (pre) and after (post) it, kmod's syntax
 * Keys it does not know are kept and shown by modinfo, and otherwise ignored. Everything a key
 * says once is said at most once; a parameter's lines name a parameter with a parmtype line.
 */
#ifndef MODLOAD_H
#define MODLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define MODLOAD_ABI_VERSION 2u

/* The name of the one symbol a version-2 module file exports. */
#define MODLOAD_DESCRIPTOR_SYMBOL "modload_module_descriptor_v2"

/* The name of the metadata section. */
#define MODLOAD_INFO_SECTION ".modload_info"

/* The longest module name, in bytes (the kernel's MODULE_NAME_LEN - 1). */
#define MODLOAD_NAME_MAX 55

/* The host, as a module sees it: an opaque handle, one per load, passed to every entry point and
 * to every host function. */
typedef struct modload_host modload_host;

/* A counted reference a module took on another module (modload_host_api.acquire). */
typedef struct modload_ref modload_ref;

/* Log levels for modload_host_api.log (syslog's numbers, most severe first). */
enum modload_log_level {
    MODLOAD_LOG_ERROR = 3,
    MODLOAD_LOG_WARNING = 4,
    MODLOAD_LOG_NOTICE = 5,
    MODLOAD_LOG_INFO = 6,
    MODLOAD_LOG_DEBUG = 7,
};

/* The host functions a module may call, from its entry points (and from threads its entry points
 * wait for). Every pointer is non-NULL. The table stays valid while the file is mapped. */
struct modload_host_api {
    /* The ABI version the host speaks (1). */
    uint32_t abi_version;
    /* sizeof(struct modload_host_api) as the host knows it. */
    uint32_t size;
    /* Writes `message` to the host's log at `level`, labelled with the module's name. */
    void (*log)(modload_host *host, int level, const char *message);
    /* The address bound to the import `name` (declared in the descriptor), or NULL if the module
     * did not declare that import. Valid until the module's exit returns. */
    const void *(*symbol)(modload_host *host, const char *name);
    /* Makes sure the module `name_or_alias` is live (the kernel's request_module), loading what it
     * needs. Blocks until it is. Returns 0, or a negative errno: -ENOENT (unknown, or the host has
     * no resolver), -EDEADLK (a dependency cycle, e.g. a module requesting itself from its init),
     * -EINVAL (a bad name), or the errno of the requested module's failure. */
    int (*request)(modload_host *host, const char *name_or_alias);
    /* Takes a counted reference on the live module `name`: NULL if it is not loaded or is going
     * away. Release it with `release` before this module's exit returns (the host releases what
     * is left then, and logs it). */
    modload_ref *(*acquire)(modload_host *host, const char *name);
    /* Releases a reference taken with `acquire`. */
    void (*release)(modload_host *host, modload_ref *ref);
    /* The value of this load's parameter `name` as text ("Y"/"N" for bools, decimal for ints,
     * items joined by ',' for lists), or NULL if it has no value. Valid until exit returns. */
    const char *(*parameter)(modload_host *host, const char *name);
};

/* How callers account for their use of the module. */
enum modload_accounting {
    MODLOAD_COUNTING = 0,    /* callers hold references; unload decides by their count */
    MODLOAD_NONCOUNTING = 1, /* callers call in inside read sections; unload waits a grace period */
};

/* A parameter's type. */
enum modload_param_type {
    MODLOAD_PARAM_BOOL = 0,   /* y/n, 1/0, on/off, true/false; a bare name means true */
    MODLOAD_PARAM_INT = 1,    /* decimal, 0x hexadecimal or leading-0 octal, optionally negative */
    MODLOAD_PARAM_STRING = 2, /* any text; double quotes group spaces */
    MODLOAD_PARAM_LIST = 3,   /* comma-separated items */
};

/* A symbol the module exports: its name (unique among a host's modules), its type signature, and
 * its address.
 *
 * A signature is text both sides agree on; an import binds only to an export whose signature is
 * the same text. The convention (what ModloadModule writes for Swift @convention(c) functions):
 * a function is "RET(ARG,ARG,...)", data is "data:TYPE", with the types void bool i8 i16 i32 i64
 * u8 u16 u32 u64 isize usize f32 f64 ptr — e.g. "u32(u32,ptr,usize)" for
 * uint32_t f(uint32_t, const void *, size_t). */
struct modload_export {
    const char *name;
    const char *signature;
    const void *address;
};

/* A symbol the module imports: its name and the signature it expects. */
struct modload_import {
    const char *name;
    const char *signature;
};

/* A parameter the module accepts at load time ("name=value ...", the kernel's syntax). */
struct modload_param {
    const char *name;
    uint32_t type;              /* enum modload_param_type */
    uint32_t reserved;          /* zero */
    const char *description;    /* one line, or NULL */
    const char *default_value;  /* as the value would be written after '=', or NULL for none */
};

struct modload_descriptor {
    /* MODLOAD_ABI_VERSION of the header the module was built with. */
    uint32_t abi_version;
    /* sizeof(struct modload_descriptor) as the module knows it. */
    uint32_t size;
    /* 1-55 bytes of [A-Za-z0-9_-]; '-' and '_' match each other. */
    const char *name;
    /* Free-form version, one-line description, license ("GPL", "MIT", ...). Never NULL. */
    const char *version;
    const char *description;
    const char *license;
    /* enum modload_accounting. */
    uint32_t accounting;
    uint32_t reserved;          /* zero */
    /* Brings the module up: returns 0, or a negative errno to fail the load (-ENODEV: nothing to
     * drive). Required. */
    int (*init)(const struct modload_host_api *api, modload_host *host);
    /* Takes the module down after an accepted unload (or nothing, if NULL). Cannot fail. */
    void (*exit)(const struct modload_host_api *api, modload_host *host);
    /* The step of an unload that may refuse: 0 accepts, a negative errno refuses and the module
     * stays live and usable (-EBUSY: still in use). NULL: always accepts. */
    int (*cleanup)(const struct modload_host_api *api, modload_host *host);
    /* What the module exports, imports and accepts: `count` entries each (a pointer may be NULL
     * when its count is 0). */
    const struct modload_export *exports;
    uint32_t export_count;
    uint32_t import_count;
    const struct modload_import *imports;
    const struct modload_param *params;
    uint32_t param_count;
    uint32_t reserved2;         /* zero */
    /* Since version 2. Names it is also requested by (glob patterns, e.g. "pci:v00008086d*"):
     * `alias_count` strings (`aliases` may be NULL when it is 0). */
    const char *const *aliases;
    uint32_t alias_count;
    uint32_t reserved3;         /* zero */
    /* Soft dependencies, kmod's syntax ("pre: a b post: c"), or NULL for none. */
    const char *softdep;
};

/* The descriptor function of this ABI version. */
typedef const struct modload_descriptor *(*modload_descriptor_fn)(void);

/*
 * Writing a module in C: declare each fact once, at file scope; every declaration writes its line
 * of the metadata section at compile time, and MODLOAD_MODULE builds the descriptor from the same
 * declarations when the host asks for it (so the two always agree):
 *
 *     MODLOAD_NAME("checksum");
 *     MODLOAD_VERSION("1.0");
 *     MODLOAD_DESCRIPTION("CRC-32C checksums");
 *     MODLOAD_LICENSE("MIT");
 *     MODLOAD_EXPORT(checksum_crc32c, "u32(u32,ptr,usize)");   // a function or object of the file
 *     MODLOAD_IMPORT("journal_commits", "u64()");
 *     MODLOAD_PARAM(seed, int, "0", "seed for the self-test");  // bool, int, string or list
 *     MODLOAD_PARAM_NODEFAULT(request, string, "a module to request during init");
 *     MODLOAD_ALIAS("crc32c");
 *     MODLOAD_SOFTDEP("pre: crc32c_intel");
 *     MODLOAD_MODULE(checksum_init, checksum_exit, checksum_cleanup);   // exit, cleanup may be NULL
 *
 * MODLOAD_NONCOUNTING_MODULE(...) instead of MODLOAD_MODULE makes a noncounting module. Exports,
 * imports, parameters and aliases are gathered from sections of their own (`modload_exports`,
 * ...) through the linker's __start_/__stop_ symbols, so declare them in the one file that holds
 * MODLOAD_MODULE, or in any file of the module. MODLOAD_INFO(key, value) writes any other line.
 */
#define MODLOAD__CAT2(a, b) a##b
#define MODLOAD__CAT(a, b) MODLOAD__CAT2(a, b)
#define MODLOAD__UNIQUE(prefix) MODLOAD__CAT(prefix, __COUNTER__)
#define MODLOAD__STR2(x) #x
#define MODLOAD__STR(x) MODLOAD__STR2(x)

/* One line `key=value` of the metadata section (both must be string literals). */
#define MODLOAD_INFO(key, value)                                                             \
    static const char MODLOAD__UNIQUE(modload__info_)[]                                     \
        __attribute__((section(".modload_info"), used, aligned(1))) = key "=" value

#define MODLOAD_NAME(name)                                                                   \
    MODLOAD_INFO("name", name);                                                              \
    static const char modload__name[] = name
#define MODLOAD_VERSION(version)                                                             \
    MODLOAD_INFO("version", version);                                                        \
    static const char modload__version[] = version
#define MODLOAD_DESCRIPTION(description)                                                     \
    MODLOAD_INFO("description", description);                                                \
    static const char modload__description[] = description
#define MODLOAD_LICENSE(license)                                                             \
    MODLOAD_INFO("license", license);                                                        \
    static const char modload__license[] = license

/* Exports `symbol` (a function or object defined in the module) with `signature`. */
#define MODLOAD_EXPORT(symbol, signature)                                                    \
    MODLOAD_INFO("export", #symbol " " signature);                                           \
    static const struct modload_export MODLOAD__UNIQUE(modload__export_)                    \
        __attribute__((section("modload_exports"), used, aligned(8))) =                      \
        { #symbol, signature, (const void *)&symbol }
#define MODLOAD_IMPORT(name, signature)                                                      \
    MODLOAD_INFO("import", name " " signature);                                              \
    static const struct modload_import MODLOAD__UNIQUE(modload__import_)                    \
        __attribute__((section("modload_imports"), used, aligned(8))) = { name, signature }

#define MODLOAD__PARAM_TYPE_bool MODLOAD_PARAM_BOOL
#define MODLOAD__PARAM_TYPE_int MODLOAD_PARAM_INT
#define MODLOAD__PARAM_TYPE_string MODLOAD_PARAM_STRING
#define MODLOAD__PARAM_TYPE_list MODLOAD_PARAM_LIST
/* A parameter `name` of `type` (bool, int, string or list) with a default value (a string
 * literal, as it would be written after '=') and a one-line description. */
#define MODLOAD_PARAM(name, type, default_value, description)                               \
    MODLOAD_INFO("parmtype", #name ":" #type);                                               \
    MODLOAD_INFO("parm", #name ":" description);                                             \
    MODLOAD_INFO("parmdefault", #name ":" default_value);                                    \
    static const struct modload_param MODLOAD__UNIQUE(modload__param_)                     \
        __attribute__((section("modload_params"), used, aligned(8))) =                       \
        { #name, MODLOAD__PARAM_TYPE_##type, 0, description, default_value }
/* A parameter with no default (it has no value unless a load gives one). */
#define MODLOAD_PARAM_NODEFAULT(name, type, description)                                     \
    MODLOAD_INFO("parmtype", #name ":" #type);                                               \
    MODLOAD_INFO("parm", #name ":" description);                                             \
    static const struct modload_param MODLOAD__UNIQUE(modload__param_)                     \
        __attribute__((section("modload_params"), used, aligned(8))) =                       \
        { #name, MODLOAD__PARAM_TYPE_##type, 0, description, 0 }

/* A name the module is also requested by: a glob pattern, as kmod matches aliases. */
#define MODLOAD_ALIAS(pattern)                                                               \
    MODLOAD_INFO("alias", pattern);                                                          \
    static const char *const MODLOAD__UNIQUE(modload__alias_)                               \
        __attribute__((section("modload_aliases"), used, aligned(8))) = pattern
/* Soft dependencies, kmod's syntax: "pre: a b post: c" (once). */
#define MODLOAD_SOFTDEP(text)                                                                \
    MODLOAD_INFO("softdep", text);                                                           \
    __attribute__((visibility("hidden"))) const char modload__softdep[] = text

/* The descriptor function, built from the declarations above. */
#define MODLOAD_MODULE(init_fn, exit_fn, cleanup_fn)                                         \
    MODLOAD__MODULE(MODLOAD_COUNTING, "counting", init_fn, exit_fn, cleanup_fn)
#define MODLOAD_NONCOUNTING_MODULE(init_fn, exit_fn, cleanup_fn)                             \
    MODLOAD__MODULE(MODLOAD_NONCOUNTING, "noncounting", init_fn, exit_fn, cleanup_fn)

#define MODLOAD__SECTION_BOUNDS(type, section)                                               \
    extern type __start_##section[] __attribute__((weak, visibility("hidden")));           \
    extern type __stop_##section[] __attribute__((weak, visibility("hidden")))
#define MODLOAD__COUNT(section) ((uint32_t)(__stop_##section - __start_##section))

#define MODLOAD__MODULE(accounting_value, accounting_text, init_fn, exit_fn, cleanup_fn)    \
    MODLOAD_INFO("abi", MODLOAD__STR(MODLOAD__ABI_NUMBER));                                  \
    MODLOAD_INFO("accounting", accounting_text);                                             \
    MODLOAD__SECTION_BOUNDS(const struct modload_export, modload_exports);                  \
    MODLOAD__SECTION_BOUNDS(const struct modload_import, modload_imports);                  \
    MODLOAD__SECTION_BOUNDS(const struct modload_param, modload_params);                    \
    MODLOAD__SECTION_BOUNDS(const char *const, modload_aliases);                            \
    /* NULL unless MODLOAD_SOFTDEP defined it. */                                            \
    extern const char modload__softdep[] __attribute__((weak, visibility("hidden")));       \
    __attribute__((visibility("default"))) const struct modload_descriptor *                \
    modload_module_descriptor_v2(void) {                                                     \
        static struct modload_descriptor d;                                                  \
        if (d.abi_version == 0) {                                                            \
            d.size = sizeof d;                                                               \
            d.name = modload__name;                                                          \
            d.version = modload__version;                                                    \
            d.description = modload__description;                                            \
            d.license = modload__license;                                                    \
            d.accounting = accounting_value;                                                 \
            d.init = init_fn;                                                                \
            d.exit = exit_fn;                                                                \
            d.cleanup = cleanup_fn;                                                          \
            d.exports = __start_modload_exports;                                             \
            d.export_count = __start_modload_exports ? MODLOAD__COUNT(modload_exports) : 0;  \
            d.imports = __start_modload_imports;                                             \
            d.import_count = __start_modload_imports ? MODLOAD__COUNT(modload_imports) : 0;  \
            d.params = __start_modload_params;                                               \
            d.param_count = __start_modload_params ? MODLOAD__COUNT(modload_params) : 0;     \
            d.aliases = __start_modload_aliases;                                             \
            d.alias_count = __start_modload_aliases ? MODLOAD__COUNT(modload_aliases) : 0;   \
            d.softdep = modload__softdep;                                                    \
            d.abi_version = MODLOAD_ABI_VERSION;                                             \
        }                                                                                    \
        return &d;                                                                           \
    }
#define MODLOAD__ABI_NUMBER 2

/*
 * Signed module files (the kernel's MODULE_SIG). `modload sign KEY FILE` appends a trailer after
 * the ELF image:
 *
 *     signer      signer_len bytes, UTF-8: who signed (the key's name)
 *     public key  32 bytes: the signer's Ed25519 public key
 *     signature   64 bytes: Ed25519
 *     info        struct modload_signature_info (8 bytes)
 *     magic       MODLOAD_SIGNATURE_MAGIC (28 bytes, no NUL)
 *
 * The signature covers every other byte of the file: the ELF image, the signer, the public key,
 * the info block and the magic, in file order. A file that is changed anywhere after signing
 * fails verification. The dynamic linker ignores bytes after the image; the host does not: bytes
 * after the image that are not one well-formed trailer make the file invalid.
 *
 * A host trusts a signature if its public key is in the host's keyring (the signer's name is
 * informational). Under the enforce policy an unsigned file, or one signed by a key not in the
 * keyring, is refused; under the permissive policy it loads and taints the host and the module
 * ('E'). A signature that is malformed, of an unknown algorithm, or does not verify is refused
 * under every policy.
 */
#define MODLOAD_SIGNATURE_MAGIC "~Modload signature appended~"

enum modload_signature_algorithm {
    MODLOAD_SIG_ED25519 = 1,
};

struct modload_signature_info {
    uint8_t algorithm;   /* enum modload_signature_algorithm */
    uint8_t key_len;     /* bytes of public key (32) */
    uint8_t signer_len;  /* bytes of signer name (1-255) */
    uint8_t reserved;    /* zero */
    uint8_t sig_len[4];  /* signature bytes, big-endian (64) */
};

#ifdef __cplusplus
}
#endif
#endif
