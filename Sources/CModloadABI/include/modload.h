/*
 * modload.h — the Modload module-file ABI, version 1.
 *
 * A module file is an ELF shared object (64-bit, for the host's machine) that exports one
 * function, named after the ABI version it was built for:
 *
 *     const struct modload_descriptor *modload_module_descriptor_v1(void);
 *
 * It returns a descriptor that stays valid, unchanged, for as long as the file is mapped, and
 * does nothing else (no allocation that matters, no calls into the host). Write it with the
 * MODLOAD_MODULE macro below (C), or with the ModloadModule library (Swift, via @_cdecl).
 *
 * Everything crosses this boundary as C: names and signatures are NUL-terminated UTF-8 strings,
 * entry points are C functions, symbol values are addresses, errors are negative errnos. Nothing
 * Swift-specific crosses it, so a module can be written in C, Swift, Rust or Zig.
 *
 * What the host checks, in order, before any code of the module runs:
 *   1. the file: ELF magic, class, byte order, type (a shared object, not an executable), machine,
 *      every header, segment and section inside the file, no trailing bytes except a signature;
 *   2. the descriptor symbol: the file must export modload_module_descriptor_v1; a file exporting
 *      only another version (modload_module_descriptor_vN) is refused as built for ABI N;
 *   3. the signature and the host's signature policy (see "Signed module files" below);
 * then it maps the file (which runs the file's ELF constructors, as every dlopen does), calls the
 * descriptor function, and checks the descriptor before calling any entry point:
 *   4. abi_version == 1, size >= the size of version 1's descriptor, reserved fields zero;
 *   5. name (1-55 bytes of [A-Za-z0-9_-]), version, description and license present;
 *   6. counts and arrays consistent, every export and import named and signed, export names
 *      unique, parameter names unique and types known;
 * and binds the imports (name and signature must both match an export of a live module) before
 * init runs. Any failure: a clear error naming the file, nothing loaded, the host unchanged.
 *
 * Threads: the host calls entry points on threads of its own (never on Swift's cooperative pool),
 * so an entry point may block. It never calls two entry points of one module at once. Exports may
 * be called by other modules on any thread, at any time between init's start and exit's return.
 *
 * Compatibility: a host accepts exactly the ABI versions it knows. Fields are only ever added at
 * the end of a struct; `size` says how much of it the other side filled in.
 */
#ifndef MODLOAD_H
#define MODLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define MODLOAD_ABI_VERSION 1u

/* The name of the one symbol a version-1 module file exports. */
#define MODLOAD_DESCRIPTOR_SYMBOL "modload_module_descriptor_v1"

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
    MODLOAD_PARAM_INT = 1,    /* decimal, 0x hexadecimal or 0o octal, optionally negative */
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
};

/* The descriptor function of this ABI version. */
typedef const struct modload_descriptor *(*modload_descriptor_fn)(void);

/* Defines the descriptor function of a C module, returning `descriptor` (a static
 * struct modload_descriptor):
 *
 *     static const struct modload_descriptor crc = { .abi_version = MODLOAD_ABI_VERSION, ... };
 *     MODLOAD_MODULE(crc)
 */
#define MODLOAD_MODULE(descriptor)                                                   \
    __attribute__((visibility("default"))) const struct modload_descriptor *          \
    modload_module_descriptor_v1(void) { return &(descriptor); }

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
