// A read of this process's memory that cannot fault, for following a module's descriptor pointers.
#define _GNU_SOURCE
#include "CModloadLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

// process_vm_readv where the kernel allows it, else a write through a pipe (the kernel checks the
// address, and fails with EFAULT instead of a signal).
long ml_read_memory(void *into, const void *address, unsigned long length) {
    struct iovec local = { into, length }, remote = { (void *)address, length };
    long n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    long done = 0;
    while ((unsigned long)done < length) {
        unsigned long chunk = length - (unsigned long)done < 4096 ? length - (unsigned long)done : 4096;
        long w = write(pipefd[1], (const char *)address + done, chunk);
        if (w <= 0) break;
        long r = read(pipefd[0], (char *)into + done, (unsigned long)w);
        if (r != w) break;
        done += w;
    }
    int saved = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    errno = saved;
    return done > 0 ? done : -1;
}
