/*
 * ptrace-probe (test fixture, isolation.test.ts): the tiny image has no ptrace tool, so this is one, built on the
 * host at test time without a C library (x86-64 system calls) so that it stays small enough to travel inside a
 * command line. Run in a node or VM as its root; exits 0 (and says what it got) only when the attack worked.
 *   ptrace-probe pid1     PTRACE_ATTACH and PTRACE_SEIZE of the node's PID 1
 *   ptrace-probe others   forks processes: one of its own uid (the control: attaching it must work, as on any
 *                         Linux machine, else it says so and exits 0 so that the check cannot pass vacuously) and ones
 *                         that turn into uid 1000 and make themselves dumpable again; then PTRACE_ATTACH and
 *                         PTRACE_SEIZE of the latter (two of them, one each), which only CAP_SYS_PTRACE would allow
 */
enum { READ = 0, WRITE = 1, CLOSE = 3, PAUSE = 34, PIPE = 22, FORK = 57, EXIT = 60, WAIT4 = 61, KILL = 62, PTRACE = 101 };
enum { SETRESUID = 117, SETRESGID = 119, PRCTL = 157, PR_SET_DUMPABLE = 4 };
enum { PTRACE_ATTACH = 16, PTRACE_DETACH = 17, PTRACE_SEIZE = 0x4206, EPERM = 1 };

static long sys(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

static void say(const char *s) {
  long n = 0;
  while (s[n]) n++;
  sys(WRITE, 1, (long)s, n);
}

static void say_result(const char *what, long r) {
  char digits[24];
  int i = sizeof digits - 1;
  digits[i] = 0;
  long e = r < 0 ? -r : r;
  do digits[--i] = (char)('0' + e % 10);
  while ((e /= 10) > 0 && i > 0);
  say(what);
  say(r == 0 ? " attached\n" : r == -EPERM ? " EPERM\n" : " errno ");
  if (r != 0 && r != -EPERM) {
    say(digits + i);
    say("\n");
  }
}

static __attribute__((noreturn)) void leave(long code) {
  sys(EXIT, code, 0, 0);
  __builtin_unreachable();
}

/* A child that sets its ids (when asked), tells the parent over the pipe whether it could, then waits to be killed. */
static long child(int uid, int pipe_w) {
  long pid = sys(FORK, 0, 0, 0);
  if (pid != 0) return pid;
  const char *ok = "1";
  if (uid >= 0 && (sys(SETRESGID, uid, uid, uid) != 0 || sys(SETRESUID, uid, uid, uid) != 0 ||
                   sys(PRCTL, PR_SET_DUMPABLE, 1, 0) != 0))
    ok = "0";
  sys(WRITE, pipe_w, (long)ok, 1);
  for (;;) sys(PAUSE, 0, 0, 0);
}

static int others(void) {
  int fds[2];
  char b;
  if (sys(PIPE, (long)fds, 0, 0) != 0) return say("pipe failed\n"), 0;
  long own = child(-1, fds[1]), other = child(1000, fds[1]), other2 = child(1000, fds[1]);
  if (own < 0 || other < 0 || other2 < 0) return say("fork failed\n"), 0;
  sys(CLOSE, fds[1], 0, 0);
  int worked = 0;
  for (int i = 0; i < 3; i++)
    if (sys(READ, fds[0], (long)&b, 1) != 1 || b != '1') worked = 1;
  if (worked) say("set-up failed: a child could not become uid 1000\n");
  long r = sys(PTRACE, PTRACE_ATTACH, own, 0);
  if (r != 0) say_result("control (own uid) refused:", r), worked = 1; /* the check would pass vacuously */
  long a = sys(PTRACE, PTRACE_ATTACH, other, 0);
  say_result("uid 1000 attach", a);
  long s = sys(PTRACE, PTRACE_SEIZE, other2, 0);
  say_result("uid 1000 seize", s);
  if (a == 0 || s == 0) worked = 1;
  sys(KILL, own, 9, 0);
  sys(KILL, other, 9, 0);
  sys(KILL, other2, 9, 0);
  sys(WAIT4, own, 0, 0);
  sys(WAIT4, other, 0, 0);
  sys(WAIT4, other2, 0, 0);
  return worked;
}

static int pid1(void) {
  long a = sys(PTRACE, PTRACE_ATTACH, 1, 0);
  say_result("pid 1 attach", a);
  if (a == 0) sys(PTRACE, PTRACE_DETACH, 1, 0);
  long s = sys(PTRACE, PTRACE_SEIZE, 1, 0);
  say_result("pid 1 seize", s);
  if (s == 0) sys(PTRACE, PTRACE_DETACH, 1, 0);
  return a == 0 || s == 0;
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

__attribute__((used, noreturn)) static void entry(long *sp) {
  char **argv = (char **)(sp + 1);
  if (sp[0] != 2) leave(2);
  leave(same(argv[1], "pid1") ? !pid1() : same(argv[1], "others") ? !others() : 2);
}

__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call entry\n");
