/* pause.c - pid 1 of a share_pid pod: reaps orphans and does nothing else (freestanding). */
/*
 * Built without libc (-nostdlib -static) into a few hundred bytes that tank-shim carries and
 * executes from a sealed memfd: the pause process then holds no copy of the shim's memory,
 * no host path (not even its own executable's) and no environment. The shim has already
 * confined it (empty read-only root, no capabilities, nobody, no_new_privs, seccomp); it
 * blocks SIGCHLD, and waits for it and reaps, forever. Signals from inside the pod's pid
 * namespace cannot kill it (pid 1 has no handlers); SIGKILL from the shim can.
 */
#include <asm/unistd.h>
#include <linux/prctl.h>
#include <linux/wait.h>

#define SIG_BLOCK 0
#define SIGCHLD 17
#define SIGKILL 9

static long sys5(long n, long a, long b, long c, long d, long e)
{
	long r;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
			 : "memory");
	r = x0;
#else
#error "pause.c: add the syscall convention of this architecture"
#endif
	return r;
}

__attribute__((noreturn, force_align_arg_pointer, used)) void _start(void)
{
	unsigned long chld = 1UL << (SIGCHLD - 1);

	sys5(__NR_prctl, PR_SET_NAME, (long)"pause", 0, 0, 0);
	sys5(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* /proc/1/{environ,mem,maps,...} become root's, and ptrace needs CAP_SYS_PTRACE */
	sys5(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
	sys5(__NR_rt_sigprocmask, SIG_BLOCK, (long)&chld, 0, sizeof(chld), 0);
	for (;;) {
		sys5(__NR_rt_sigtimedwait, (long)&chld, 0, 0, sizeof(chld), 0);
		while (sys5(__NR_wait4, -1, 0, WNOHANG, 0, 0) > 0)
			;
	}
}
