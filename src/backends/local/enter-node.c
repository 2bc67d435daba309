/*
 * enter-node: starts one process inside a running node sandbox, in place of the chain
 * `env --default-signal` + `setpriv --bounding-set … [--no-new-privs]` + `nsenter --target … --root [--setuid]`
 * and the in-node prelude shell (twice for the non-admin user): it joins the run's cgroups, enters the node,
 * prepares the task's folders and output files itself, forks once (into the node's PID namespace) and execs
 * `/bin/sh -c CMD` there. So a task run costs one exec and one fork on the host and one exec in the node.
 * Compiled on first use when the host has a C compiler (enter-node.ts); without one the shell chain is used.
 * Part of Lazurite; MIT.
 *
 * usage: enter-node ID HOLDER_PID NONADMIN(0|1) CAPS CGROUPS WD OUT ERR EXIT CMD [NAME=VALUE...]
 * - prints `ID pid <its PID>` on stdout, then points its stdout at /dev/null;
 * - writes its PID into each `cgroup.procs` file of CGROUPS (newline-separated; exit 125 when one fails);
 * - CAPS: comma-separated capability numbers dropped from the bounding set;
 * - WD, OUT, ERR: paths inside the node (as the prelude in node-sandbox.ts takes them); failures to prepare
 *   them exit 126 with `lazurite: …` on stderr, as the prelude does;
 * - EXIT: a host file that receives the exit status when the process ends (empty: none);
 * - the process gets exactly NAME=VALUE... as its environment, stdin as given, default signals, and for the
 *   non-admin user uid/gid 1000 with no new privileges.
 * Exits with the process's status (128 + signal when killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define AUTO_UID 1000
#define AUTO_GID 1000

static int exit_dir = -1;
static const char *exit_name;

static void finish(int status);

static void die(const char *what) {
  fprintf(stderr, "enter-node: %s: %s\n", what, strerror(errno));
  finish(125);
}

/** Records the status in the run's journal (when it has one) and exits with it. */
static void finish(int status) {
  if (exit_dir >= 0) {
    int fd = openat(exit_dir, exit_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dprintf(fd, "%d\n", status);
      close(fd);
    }
  }
  exit(status);
}

/** A failure to prepare the task's files: the prelude's message and status. */
static void fail(const char *fmt, const char *a, const char *b, const char *c) {
  fputs("lazurite: ", stderr);
  fprintf(stderr, fmt, a, b, c);
  fputc('\n', stderr);
  finish(126);
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

static void join_cgroups(const char *list) {
  char *copy = strdup(list);
  if (!copy) die("memory");
  for (char *path = strtok(copy, "\n"); path; path = strtok(NULL, "\n")) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0 || close(fd) != 0) die(path);
  }
  free(copy);
}

/** Opens the folder of the host file EXIT now: after the chroot only this descriptor reaches it. */
static void open_exit(const char *path) {
  if (path[0] == '\0') return;
  const char *slash = strrchr(path, '/');
  if (!slash || slash[1] == '\0') die("exit file");
  char *dir = strndup(path, (size_t)(slash - path) + 1);
  if (!dir || (exit_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die("exit file folder");
  free(dir);
  exit_name = slash + 1;
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
  if (!copy) die("memory");
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
    if (prctl(PR_CAPBSET_DROP, atol(tok), 0, 0, 0) != 0 && errno != EINVAL) die("capability bounding set");
  free(copy);
}

/** The folder of a node path (its part before the last slash; "/" for a file at the root), in `buf` (PATH_MAX bytes). */
static const char *folder_of(const char *f, char *buf) {
  const char *slash = strrchr(f, '/');
  size_t n = slash ? (size_t)(slash - f) : 0;
  if (n == 0) return "/";
  if (n >= PATH_MAX) n = PATH_MAX - 1;
  memcpy(buf, f, n);
  buf[n] = '\0';
  return buf;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/** `mkdir -p`: 0, or -1 when a folder could not be made. */
static int mkdirs(const char *path) {
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof buf) return -1;
  strcpy(buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/** Enters a folder that must be reached without following any link (`cd -P` and compare, as the prelude). */
static void into(const char *dir) {
  char cwd[PATH_MAX];
  if (chdir(dir) != 0 || !getcwd(cwd, sizeof cwd) || strcmp(cwd, dir) != 0)
    fail("%s is not a folder of the node", dir, "", "");
}

/** Replaces the file `path` (in the current folder, its own) by a new empty one, open for writing. */
static int fresh(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  struct stat st;
  if (lstat(name, &st) == 0 && unlink(name) != 0) fail("cannot replace %s", name, "", "");
  int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) fail("cannot create %s", path, "", "");
  return fd;
}

/** Makes the folders, then new output files: fds[0] for OUT, fds[1] for ERR (-1 when ERR is OUT). */
static void prepare(const char *wd, const char *out, const char *err, int fds[2]) {
  char od[PATH_MAX], ed[PATH_MAX];
  const char *outdir = folder_of(out, od), *errdir = folder_of(err, ed);
  if (!(is_dir(wd) && is_dir(outdir) && is_dir(errdir)) && (mkdirs(wd) | mkdirs(outdir) | mkdirs(errdir)))
    fail("cannot create the folders of %s", wd, "", "");
  into(wd);
  into(outdir);
  fds[0] = fresh(out);
  fds[1] = -1;
  if (strcmp(err, out) != 0) {
    into(errdir);
    fds[1] = fresh(err);
  }
}

/** Hands the folders and files to the auto-user (lchown: a link planted meanwhile changes, not its target). */
static void hand_over(const char *wd, const char *out, const char *err) {
  char od[PATH_MAX], ed[PATH_MAX];
  const char *paths[] = {wd, folder_of(out, od), out, folder_of(err, ed), err};
  for (int i = 0; i < 5; i++)
    if (lchown(paths[i], AUTO_UID, AUTO_GID) != 0) fail("cannot hand %s, %s and %s to the user", wd, out, err);
}

/** Forks the process (it lands in the node's PID namespace) and execs `/bin/sh -c cmd` with `env`. */
static pid_t start(char *cmd, char **env, const char *wd, const char *out, const char *err, int fds[2],
                   int as_user) {
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child != 0) return child;
  exit_dir = -1; /* the parent records the status */
  if (as_user) {
    if (setgroups(0, NULL) != 0 || setgid(AUTO_GID) != 0 || setuid(AUTO_UID) != 0) die("auto-user");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  }
  if (chdir(wd) != 0) fail("cannot enter %s", wd, "", "");
  if (as_user) {
    /* As the user, like the prelude's `exec >"$out" 2>"$err"`: the files prep made, truncated. */
    if ((fds[0] = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666)) < 0) fail("cannot create %s", out, "", "");
    fds[1] = -1;
    if (strcmp(err, out) != 0 && (fds[1] = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666)) < 0)
      fail("cannot create %s", err, "", "");
  }
  if (dup2(fds[0], 1) < 0 || dup2(fds[1] < 0 ? 1 : fds[1], 2) < 0) die("redirect");
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  execve("/bin/sh", argv, env);
  die("/bin/sh");
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 11) {
    fprintf(stderr, "usage: enter-node ID PID NONADMIN CAPS CGROUPS WD OUT ERR EXIT CMD [NAME=VALUE...]\n");
    return 125;
  }
  default_signals();
  printf("%s pid %d\n", argv[1], (int)getpid());
  fflush(stdout);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0 || dup2(null, 1) < 0) die("/dev/null");
  close(null);
  join_cgroups(argv[5]);
  open_exit(argv[9]);
  enter(argv[2]);
  drop_caps(argv[4]);
  int nonadmin = strcmp(argv[3], "1") == 0;
  const char *wd = argv[6], *out = argv[7], *err = argv[8];
  int fds[2];
  prepare(wd, out, err, fds);
  if (nonadmin) {
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    hand_over(wd, out, err);
  }
  pid_t child = start(argv[10], &argv[11], wd, out, err, fds, nonadmin);
  if (!nonadmin) {
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
  }
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait");
  finish(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}
