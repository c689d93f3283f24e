/*
 * hello: the program inside hybridock's hello-world image.
 *
 * Static and tiny: on x86_64 and aarch64 it is built with -nostdlib and talks to the kernel
 * through raw write/exit_group syscalls, so the binary is a few kilobytes and needs nothing
 * from the image but itself. Elsewhere (-DHELLO_LIBC) it is an ordinary static libc program.
 * It exits 0 when the whole greeting was written, 1 otherwise.
 */

static const char greeting[] =
    "\n"
    "Hello from hybridock!\n"
    "\n"
    "You are reading this because your hybridock setup works. Here is what it just did:\n"
    "\n"
    " 1. The hybridock command line turned \"hello-world\" into\n"
    "    docker.io/library/hello-world:latest, looked for that image in its local store,\n"
    "    and fetched the manifest and layers from the registry if they were not there yet.\n"
    " 2. Every layer was checked against its sha256 digest as it arrived, then unpacked\n"
    "    into the store, where any later image or container that needs it shares it.\n"
    " 3. A container was created from the image: a fresh id, and a root filesystem of\n"
    "    its own laid over the image's read-only files.\n"
    " 4. The container was started in new namespaces (mount, pid, uts, ipc), ran this\n"
    "    small static program, and hybridock streamed what it printed to your terminal.\n"
    "\n"
    "No daemon took part: the hybridock process you started did all of it, and is done.\n"
    "\n"
    "Something bigger to try:\n"
    " $ hybridock run -it busybox sh\n"
    "\n"
    "What is on this machine now:\n"
    " $ hybridock images\n"
    " $ hybridock ps -a\n"
    "\n";

#if defined(HELLO_LIBC)

#include <unistd.h>

int main(void) {
    const char *cursor = greeting;
    long left = (long)sizeof(greeting) - 1;
    while (left > 0) {
        long written = (long)write(1, cursor, (unsigned long)left);
        if (written <= 0) {
            return 1;
        }
        cursor += written;
        left -= written;
    }
    return 0;
}

#else

#if defined(__x86_64__)
#define SYS_WRITE 1
#define SYS_EXIT_GROUP 231

static long syscall3(long number, long first, long second, long third) {
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(first), "S"(second), "d"(third)
                     : "rcx", "r11", "memory");
    return result;
}
#elif defined(__aarch64__)
#define SYS_WRITE 64
#define SYS_EXIT_GROUP 94

static long syscall3(long number, long first, long second, long third) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = first;
    register long x1 __asm__("x1") = second;
    register long x2 __asm__("x2") = third;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
#error "raw syscalls are written for x86_64 and aarch64 only: build with -DHELLO_LIBC"
#endif

#define EINTR 4

__attribute__((noreturn, used)) void _start(void) {
    const char *cursor = greeting;
    long left = (long)sizeof(greeting) - 1;
    long status = 0;
    while (left > 0) {
        long written = syscall3(SYS_WRITE, 1, (long)cursor, left);
        if (written == -EINTR) {
            continue;
        }
        if (written <= 0) {
            status = 1;
            break;
        }
        cursor += written;
        left -= written;
    }
    for (;;) {
        syscall3(SYS_EXIT_GROUP, status, 0, 0);
    }
}

#endif
