// Linux calls that Swift's Glibc module does not expose (they need _GNU_SOURCE): memfd_create and
// file seals, for mapping a module file's validated bytes as a sealed private copy; and a read of
// this process's memory that cannot fault, for following a module's descriptor pointers.
#ifndef CMODLOAD_LINUX_H
#define CMODLOAD_LINUX_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/// An anonymous memory file that may be sealed and mapped executable, closed on exec; -1 and
/// errno on failure. Asks for MFD_EXEC (needed where vm.memfd_noexec is set) and retries without
/// it on kernels that predate the flag.
static inline int ml_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/// Seals a memory file so its contents can never change again (write, grow, shrink, and further
/// seal changes are refused); 0 or -1 and errno.
static inline int ml_seal_contents(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

/// Copies up to `length` bytes at `address` (in this process) to `into` without faulting: returns
/// the bytes copied — fewer than asked if the range runs into memory that is not mapped readable
/// — or -1 and errno (EFAULT if not even the first byte is). (In memory.c: the header includes
/// nothing that would clash with Swift's Glibc module.)
long ml_read_memory(void *into, const void *address, unsigned long length);


#endif
