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
 *
 * usage: enter-node serve HOLDER_PID CAPS NODE_CGROUPS EXEC_PARENT JOURNAL_DIR  (the node's runner, ADR 0018)
 * - joins NODE_CGROUPS (the node's `cgroup.procs` files), opens EXEC_PARENT (the folder of the runs' own
 *   cgroups) and JOURNAL_DIR (the node's run journal) on the host, enters the node once and drops CAPS;
 * - then reads run requests on stdin, each `LENGTH\n` and LENGTH bytes of NUL-terminated fields
 *   `ID NONADMIN CGROUP WD OUT ERR EXIT CMD NAME=VALUE...` (CGROUP and EXIT relative to EXEC_PARENT and
 *   JOURNAL_DIR, empty for none), and for each forks a waiter — it does what the one-run form does after
 *   entering the node: joins CGROUP, prepares the files, forks and execs the command, writes EXIT before it
 *   leaves the cgroup — and prints `ID pid <waiter's host PID>`, each failure to prepare as `ID !err <text>`
 *   (from the waiter) and `ID !exit <status>` once the waiter is gone (also when a timeout killed it);
 * - exits at the end of its stdin (waiters still going finish on their own, the node's PID 1 reaps them).
 * So a run costs one fork of this small process, one fork and one exec: no host shell, no `setns`.
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
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define AUTO_UID 1000
#define AUTO_GID 1000

static int exit_dir = -1;
static const char *exit_name;
/* Runner mode: the run a waiter serves (its failures go to the host as `ID !err` lines on stdout). */
static const char *report_id;

static void finish(int status);

/** One message: on stderr, or in runner mode as one line on stdout (a single write: lines never interleave). */
static void emit(const char *msg) {
  if (!report_id) {
    fprintf(stderr, "%s\n", msg);
    return;
  }
  char line[PIPE_BUF];
  int n = snprintf(line, sizeof line - 1, "%s !err %s", report_id, msg);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  if (write(1, line, (size_t)n) < 0) { /* the host is gone: the journal still gets the status */ }
}

static void die(const char *what) {
  char msg[PATH_MAX + 128];
  snprintf(msg, sizeof msg, "enter-node: %s: %s", what, strerror(errno));
  emit(msg);
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
  char msg[3 * PATH_MAX + 128];
  int n = snprintf(msg, sizeof msg, "lazurite: ");
  snprintf(msg + n, sizeof msg - (size_t)n, fmt, a, b, c);
  emit(msg);
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
  static const char *const kinds[] = {"ipc", "uts", "net", "pid", "mnt"};
  static const int flags[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
  char path[64];
  int fds[5];
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, kinds[i]);
    if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) die(path);
  }
  snprintf(path, sizeof path, "/proc/%s/root", pid);
  int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) die(path);
  for (int i = 0; i < 5; i++) {
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
  if (report_id) default_signals();
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

/** Inside the node: prepares the files, runs the command, waits for it and finishes with its status. */
static void run_in_node(int nonadmin, const char *wd, const char *out, const char *err, char *cmd, char **env) {
  int fds[2];
  prepare(wd, out, err, fds);
  if (nonadmin) {
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    hand_over(wd, out, err);
  }
  pid_t child = start(cmd, env, wd, out, err, fds, nonadmin);
  if (!nonadmin) {
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
  }
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait");
  finish(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* ---- runner mode (`serve`) ---- */

static int exec_parent = -1, journal = -1, requests = -1, children = -1;

/** Runs in flight: waiter PID → request id. */
static struct waiter {
  pid_t pid;
  char *id;
} *waiters;
static size_t n_waiters, cap_waiters;

/** One line on stdout, in a single write. */
static void say(const char *id, const char *what, long value) {
  char line[256];
  int n = snprintf(line, sizeof line, "%s %s %ld\n", id, what, value);
  if (n > 0 && n < (int)sizeof line && write(1, line, (size_t)n) < 0) { /* the host is gone */ }
}

/** The waiter of one run (a child of the runner): joins the run's cgroup, then as the one-run form. */
static void waiter(char **f) {
  report_id = f[0];
  close(requests);
  close(children);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (f[2][0] != '\0') {
    int fd = openat(exec_parent, f[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int procs = fd < 0 ? -1 : openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0\n", 2) != 2 || close(procs) != 0) die(f[2]);
    close(fd);
  }
  if (f[6][0] != '\0') {
    exit_dir = journal;
    exit_name = f[6];
  }
  run_in_node(strcmp(f[1], "1") == 0, f[3], f[4], f[5], f[7], &f[8]);
}

/** Starts the run of one request (`count` NUL-terminated fields at `p`). */
static void launch(char *p, size_t count) {
  char **f = calloc(count + 1, sizeof *f);
  if (!f) die("memory");
  for (size_t i = 0; i < count; i++) {
    f[i] = p;
    p += strlen(p) + 1;
  }
  if (count < 8 || strlen(f[0]) > 64) {
    errno = EINVAL;
    die("request");
  }
  if (n_waiters == cap_waiters) {
    cap_waiters = cap_waiters ? 2 * cap_waiters : 64;
    waiters = realloc(waiters, cap_waiters * sizeof *waiters);
    if (!waiters) die("memory");
  }
  pid_t pid = fork();
  if (pid == 0) waiter(f);
  if (pid < 0) {
    report_id = f[0];
    char msg[128];
    snprintf(msg, sizeof msg, "enter-node: fork: %s", strerror(errno));
    emit(msg);
    report_id = NULL;
    say(f[0], "!exit", 125);
  } else {
    waiters[n_waiters].pid = pid;
    waiters[n_waiters].id = strdup(f[0]);
    if (!waiters[n_waiters++].id) die("memory");
    say(f[0], "pid", pid);
  }
  free(f);
}

/** Reports every waiter that ended: `ID !exit <status>`. */
static void reap(void) {
  struct signalfd_siginfo info;
  while (read(children, &info, sizeof info) > 0) {
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < n_waiters; i++) {
      if (waiters[i].pid != pid) continue;
      say(waiters[i].id, "!exit", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      free(waiters[i].id);
      waiters[i] = waiters[--n_waiters];
      break;
    }
  }
}

/** Takes every complete request in buf[0..*len) and keeps the rest. */
static void take_requests(char *buf, size_t *len) {
  size_t at = 0;
  for (;;) {
    char *nl = memchr(buf + at, '\n', *len - at);
    if (!nl) break;
    size_t size = strtoul(buf + at, NULL, 10), head = (size_t)(nl - (buf + at)) + 1;
    if (*len - at < head + size) break;
    char *p = buf + at + head;
    size_t count = 0;
    for (size_t i = 0; i < size; i++) count += p[i] == '\0';
    if (size == 0 || p[size - 1] != '\0') {
      errno = EINVAL;
      die("request");
    }
    launch(p, count);
    at += head + size;
  }
  memmove(buf, buf + at, *len - at);
  *len -= at;
}

static int serve(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: enter-node serve HOLDER_PID CAPS NODE_CGROUPS EXEC_PARENT JOURNAL_DIR\n");
    return 125;
  }
  default_signals();
  join_cgroups(argv[4]);
  if (argv[5][0] != '\0' && (exec_parent = open(argv[5], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die(argv[5]);
  if (argv[6][0] != '\0' && (journal = open(argv[6], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die(argv[6]);
  /* Requests come on a descriptor of their own; the runs get /dev/null as stdin. */
  int null = open("/dev/null", O_RDONLY);
  if ((requests = fcntl(0, F_DUPFD_CLOEXEC, 3)) < 0 || null < 0 || dup2(null, 0) < 0) die("stdin");
  close(null);
  enter(argv[2]);
  drop_caps(argv[3]);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  if ((children = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) die("signalfd");
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) die("memory");
  for (;;) {
    struct pollfd fds[2] = {{requests, POLLIN, 0}, {children, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents) reap();
    if (!fds[0].revents) continue;
    if (len == cap && !(buf = realloc(buf, cap *= 2))) die("memory");
    ssize_t n = read(requests, buf + len, cap - len);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 0;
    if (n > 0) len += (size_t)n;
    take_requests(buf, &len);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "serve") == 0) return serve(argc, argv);
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
  run_in_node(strcmp(argv[3], "1") == 0, argv[6], argv[7], argv[8], argv[10], &argv[11]);
  return 0;
}

