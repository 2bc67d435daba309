/*
 * enter-node: starts one process inside a running node sandbox, in place of the chain
 * `env --default-signal` + `setpriv --bounding-set … [--no-new-privs]` + `nsenter --target … --root [--setuid]`
 * (twice for the non-admin user), so a task run costs one exec and two forks on the host instead of about eight
 * processes. Compiled on first use when the host has a C compiler (node-executor.ts); without one the shell
 * chain is used. Part of Lazurite; MIT.
 *
 * usage: enter-node HOLDER_PID NONADMIN(0|1) CAPS(comma-separated numbers to drop) PRELUDE WD OUT ERR CMD [ENV...]
 * Runs `/bin/sh -c PRELUDE sh MODE WD OUT ERR CMD ENV...` in the node: MODE `all` as root, or `prep` as root then
 * `run` as uid/gid 1000 with no new privileges. Exits with the process's status (128 + signal when killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define AUTO_UID 1000
#define AUTO_GID 1000

static void die(const char *what) {
  fprintf(stderr, "enter-node: %s: %s\n", what, strerror(errno));
  exit(125);
}

static void default_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static void enter(const char *pid) {
  static const char *const kinds[] = {"ipc", "uts", "pid", "mnt"};
  static const int flags[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID, CLONE_NEWNS};
  char path[64];
  int fds[4];
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, kinds[i]);
    if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) die(path);
  }
  snprintf(path, sizeof path, "/proc/%s/root", pid);
  int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) die(path);
  for (int i = 0; i < 4; i++) {
    if (setns(fds[i], flags[i]) != 0) die(kinds[i]);
    close(fds[i]);
  }
  if (fchdir(root) != 0 || chroot(".") != 0 || chdir("/") != 0) die("root");
  close(root);
}

static void drop_caps(const char *list) {
  char *copy = strdup(list);
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
    if (prctl(PR_CAPBSET_DROP, atol(tok), 0, 0, 0) != 0 && errno != EINVAL) die("capability bounding set");
  free(copy);
}

/** Forks (the child lands in the node's PID namespace), execs the prelude there, and returns its status. */
static int run(char **argv, const char *mode, int as_user) {
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    if (as_user) {
      if (setgroups(0, NULL) != 0 || setgid(AUTO_GID) != 0 || setuid(AUTO_UID) != 0) die("auto-user");
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
    }
    argv[4] = (char *)mode;
    execv("/bin/sh", argv);
    die("/bin/sh");
  }
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: enter-node PID NONADMIN CAPS PRELUDE WD OUT ERR CMD [ENV...]\n");
    return 125;
  }
  default_signals();
  int nonadmin = strcmp(argv[2], "1") == 0;
  enter(argv[1]);
  drop_caps(argv[3]);
  /* /bin/sh -c PRELUDE sh MODE WD OUT ERR CMD ENV... — argv[5..] are WD onwards; run() sets MODE. */
  char **shell = calloc((size_t)argc + 1, sizeof *shell);
  if (!shell) die("memory");
  shell[0] = "/bin/sh";
  shell[1] = "-c";
  shell[2] = argv[4];
  shell[3] = "sh";
  for (int i = 5; i < argc; i++) shell[i] = argv[i];
  if (nonadmin) {
    char *prep[] = {"/bin/sh", "-c", argv[4], "sh", NULL, argv[5], argv[6], argv[7], "", NULL};
    int s = run(prep, "prep", 0);
    if (s != 0) return s;
    return run(shell, "run", 1);
  }
  return run(shell, "all", 0);
}
