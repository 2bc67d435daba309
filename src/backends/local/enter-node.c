/*
 * enter-node: a node's runner (ADR 0013, 0018, 0020). It runs on the host side and starts each process inside the
 * node, so no host shell, `nsenter` or `setpriv` is involved and nothing of a run is on any host argv.
 * Compiled on first use (enter-node.ts, compile-helper.ts). Part of Lazurite; MIT.
 *
 * usage: enter-node serve HOLDER_PID NODE_ID CAPS NODE_CGROUPS EXEC_PARENT JOURNAL_DIR
 * - joins NODE_CGROUPS (the node's `cgroup.procs` files, newline-separated), opens EXEC_PARENT (the folder of the
 *   runs' own cgroups) and JOURNAL_DIR (the node's run journal) on the host;
 * - opens a pidfd of HOLDER_PID and checks, after opening it, that the process carries `lazurite-node=NODE_ID`:
 *   every entry into the node goes through that pidfd, never through a PID number that could be reused;
 * - then reads run requests on stdin, each `FIELDS STDIN\n`, FIELDS bytes of NUL-terminated fields
 *   `ID USER CGROUP WD OUT ERR EXIT CMD CROOT NAME=VALUE...` (CROOT empty, or a container run's root, below;
 *   USER `0` for the node's root, else
 *   `UID:GID:GROUPS:NNP`, GROUPS comma-separated supplementary gids (maybe none), NNP 1 for no_new_privs; CGROUP and
 *   EXIT relative to EXEC_PARENT and JOURNAL_DIR, empty for none; WD, OUT, ERR paths inside the node) and STDIN
 *   bytes for the process's stdin;
 * - for each it forks a waiter that stays in the host's PID and mount namespaces: it joins the run's cgroup, then
 *   forks the process into the node's PID namespace (setns with CLONE_NEWPID only affects children). The process
 *   keeps only its stdin pipe and a pipe for failure reports, joins the node's other namespaces through the pidfd,
 *   drops CAPS (comma-separated capability numbers) from its bounding set, prepares its folders and output files,
 *   becomes USER (ADR 0026: its uid, gid and groups; no_new_privs when NNP) and execs `/bin/sh -c CMD` with exactly
 *   NAME=VALUE... as its environment and default signals. No host descriptor reaches the node: the journal, the
 *   cgroup folders, the runner's pipes and the pidfd stay with the runner and the waiter;
 * - the waiter writes the stdin bytes, passes on failure reports, waits, prints `ID !usage ...` (CPU times and I/O
 *   counters of the process and its waited-for descendants, ADR 0031) and writes EXIT (the status, then the same
 *   usage line) before leaving the cgroup;
 * - it prints `ID pid <waiter's PID>`, each failure to prepare as `ID !err <text>` (`lazurite: …`, exit 126, as the
 *   old prelude shell; `enter-node: …`, exit 125, for other set-up failures) and `ID !exit <status>` once the
 *   waiter is gone (128 + signal when killed; also when a timeout killed it);
 * - exits at the end of its stdin (waiters still going finish on their own).
 * A run costs two forks (waiter, process) and one exec.
 * A container run (CROOT: the host folder of an image's unpacked root, ADR 0039): before anything else, still host
 * root, the process clones that folder as a detached mount (read-only, nosuid, nodev, idmapped through the node's
 * user namespace so the image's ids are the node's), joins the node's mount namespace and makes a private copy of it
 * (owned by the host's user namespace, so nothing in the node can change it), builds the container's root there (an
 * overlay over the image with a tmpfs upper; the node's /mnt/batch/tasks, /proc and /dev bound at the same paths)
 * and pivots into it. Then it goes on as every run: filter, the node's other namespaces and user namespace, caps.
 * VM mode (VM_DISKS given: `LUN:/dev/loopN` lines, maybe none): each process makes the data disks' device nodes
 * and installs the VM's filter, whose mount(2) calls its waiter brokers until the process ends (vm-broker.h); the
 * waiter keeps the pidfd (to reach the VM's mount namespace) and writes stdin from the broker's loop.
 * `enter-node check-mount TYPE FLAGS` prints the broker's verdict on a file system type and mount(2) flags.
 * `enter-node login …` runs one remote-login session as a node user (node-login.h, ADR 0027).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node-seccomp.h"
#include "run-usage.h"
#include "vm-broker.h"

/* Supplementary groups a run's user may have (USER's GROUPS). */
#define MAX_GROUPS 16
#define MARKER "lazurite-node="
/* The namespaces a process joins (as host root) after it was forked into the node's PID namespace; the node's
   user namespace comes last. */
#define NODE_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)
#ifndef PIDFD_GET_USER_NAMESPACE
#define PIDFD_GET_USER_NAMESPACE _IO(0xFF, 9)
#endif
/* Set for a container run: the process is in its own copy of the node's mount namespace already. */
static int in_container;

static int exit_dir = -1;
static const char *exit_name;
/* What the run used (`usage` line): written to the journal after the status, so a restart keeps it. */
static char usage_line[192];
/* The run a waiter (or its process) serves: failures go to the host as `ID !err` lines on stdout. */
static const char *report_id;

static void finish(int status);

/** One failure report: one line on stdout, in a single write (lines never interleave). */
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

/** Records the status in the run's journal (the waiter, when the run has one) and exits with it. */
static void finish(int status) {
  if (exit_dir >= 0 && exit_name) {
    int fd = openat(exit_dir, exit_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dprintf(fd, "%d\n%s", status, usage_line);
      close(fd);
    }
  }
  exit(status);
}

/** A failure to prepare the task's files: the old prelude's message and status. */
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

/** A run's user (USER): root (`0`), or uid, gid, supplementary groups and whether no_new_privs is set. */
struct run_user {
  int root;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  size_t n_groups;
  int nnp;
};

/** Parses USER (`0`, or `UID:GID:G1,G2,...:NNP` with ids below 65536 and not 0); 0, or -1 when malformed. */
static int parse_user(const char *text, struct run_user *u) {
  memset(u, 0, sizeof *u);
  if (strcmp(text, "0") == 0) {
    u->root = 1;
    return 0;
  }
  char *end;
  unsigned long uid = strtoul(text, &end, 10), gid, g, nnp;
  if (end == text || *end != ':' || uid == 0 || uid > 65535) return -1;
  gid = strtoul(text = end + 1, &end, 10);
  if (end == text || *end != ':' || gid == 0 || gid > 65535) return -1;
  text = end + 1;
  while (*text != ':') {
    g = strtoul(text, &end, 10);
    if (end == text || g > 65535 || u->n_groups == MAX_GROUPS || (*end != ',' && *end != ':')) return -1;
    u->groups[u->n_groups++] = (gid_t)g;
    text = *end == ',' ? end + 1 : end;
  }
  nnp = strtoul(text = text + 1, &end, 10);
  if (end == text || *end != '\0' || nnp > 1) return -1;
  u->uid = (uid_t)uid;
  u->gid = (gid_t)gid;
  u->nnp = (int)nnp;
  return 0;
}

/** Hands the folders and files to the run's user (lchown: a link planted meanwhile changes, not its target). */
static void hand_over(const char *wd, const char *out, const char *err, const struct run_user *u) {
  char od[PATH_MAX], ed[PATH_MAX];
  const char *paths[] = {wd, folder_of(out, od), out, folder_of(err, ed), err};
  for (int i = 0; i < 5; i++)
    if (lchown(paths[i], u->uid, u->gid) != 0) fail("cannot hand %s, %s and %s to the user", wd, out, err);
}

/* ---- the process (forked by a waiter into the node's PID namespace) ---- */

static int pidfd = -1, exec_parent = -1, requests = -1, children = -1;
static const char *drop;

/** A descriptor moved to `to` (not close-on-exec: only 0-2 stay past the exec, each replaced first). */
static void move_fd(int fd, int to) {
  if (fd == to) {
    if (fcntl(fd, F_SETFD, 0) != 0) die("fcntl");
  } else if (dup2(fd, to) < 0) die("dup2");
}

/**
 * Keeps stdin (the run's pipe, or none), 1 and 2 (the report pipe to the waiter) and the pidfd (as 3, closed once
 * used): every other descriptor of the runner is closed before the process joins the node.
 */
static void keep_only(int in, int report) {
  int hi[3];
  int from[3] = {in, report, pidfd};
  for (int i = 0; i < 3; i++)
    if (from[i] >= 0 && (hi[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 64)) < 0) die("fcntl");
  if (in >= 0) move_fd(hi[0], 0);
  move_fd(hi[1], 1);
  move_fd(hi[1], 2);
  move_fd(hi[2], 3);
  if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0) die("close_range");
  pidfd = 3;
}

/** Joins the node (the PID namespace it was forked into already): its other namespaces, through the pidfd. */
static void join_node(int has_stdin) {
  if (setns(pidfd, NODE_NAMESPACES & ~(in_container ? CLONE_NEWNS : 0)) != 0) die("setns");
  if (vm_mode && vm_make_devices() != 0) die("the VM's data disk devices");
  /* Root of the node's user namespace: host ids BASE, no capability over anything of the host. */
  if (setns(pidfd, CLONE_NEWUSER) != 0) die("setns user");
  if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) die("node root");
  if (close(pidfd) != 0) die("close");
  if (!has_stdin) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0) die("/dev/null");
    close(null);
  }
  if (chdir("/") != 0) die("chdir /");
  drop_caps(drop);
}

/** A detached clone of `path` (recursive), or death. */
static int clone_tree(const char *path) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) die(path);
  return fd;
}

/** Puts the detached mount `fd` on `path` (made if missing) and closes it. */
static void place(int fd, const char *path) {
  if (mkdirs(path) != 0) die(path);
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) != 0) die(path);
  close(fd);
}

/** A container run's root (see the top): the image at `croot` (a host folder) under a private overlay, pivoted into. */
static void container_root(const char *croot) {
  int image = clone_tree(croot);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  int userns = ioctl(pidfd, PIDFD_GET_USER_NAMESPACE, 0);
  if (userns >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = (unsigned long long)userns;
  }
  if (syscall(SYS_mount_setattr, image, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) die("idmap");
  if (userns >= 0) close(userns);
  if (setns(pidfd, CLONE_NEWNS) != 0) die("setns mnt");
  if (unshare(CLONE_NEWNS) != 0) die("unshare mnt");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("private mounts");
  int tasks = clone_tree("/mnt/batch/tasks"), proc = clone_tree("/proc"), dev = clone_tree("/dev");
  if (mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) die("tmpfs");
  place(image, "/mnt/l");
  if (mkdirs("/mnt/u") != 0 || mkdirs("/mnt/w") != 0 || mkdirs("/mnt/r") != 0) die("/mnt");
  if (mount("overlay", "/mnt/r", "overlay", MS_NOSUID | MS_NODEV, "lowerdir=/mnt/l,upperdir=/mnt/u,workdir=/mnt/w") != 0)
    die("overlay");
  place(tasks, "/mnt/r/mnt/batch/tasks");
  place(proc, "/mnt/r/proc");
  place(dev, "/mnt/r/dev");
  if (chdir("/mnt/r") != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
    die("pivot_root");
  in_container = 1;
}

/** The process of one run: joins the node, prepares its files, becomes the user, execs the command. */
static void process_main(char **f, int in, int report) {
  default_signals();
  exit_dir = -1; /* the waiter records the status */
  /* No one (not even the node's root) may read this process's memory or descriptors until it execs. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("dumpable");
  keep_only(in, report);
  if (f[8][0] != '\0') container_root(f[8]);
  /* The node's filter, installed while host root (no no_new_privs needed; the auto-user gets it below). */
  if (!vm_mode && node_seccomp() != 0) die("seccomp");
  if (vm_mode) { /* a VM's filter: its mount(2) calls go to the waiter's broker (vm-broker.h) */
    int listener = vm_seccomp();
    if (listener < 0) die("seccomp");
    if (vm_send_listener(1, listener) != 0) die("send the listener");
    close(listener);
  }
  join_node(in >= 0);
  const char *wd = f[3], *out = f[4], *err = f[5];
  struct run_user user;
  if (parse_user(f[1], &user) != 0) fail("the run's user '%s' is malformed", f[1], "", "");
  int nonadmin = !user.root, fds[2];
  prepare(wd, out, err, fds);
  if (nonadmin) {
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    hand_over(wd, out, err, &user);
    if (setgroups(user.n_groups, user.groups) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0)
      die("the run's user");
    if (user.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  }
  if (chdir(wd) != 0) fail("cannot enter %s", wd, "", "");
  if (nonadmin) {
    /* As the user, like the old prelude's `exec >"$out" 2>"$err"`: the files prepare made, truncated. */
    if ((fds[0] = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) fail("cannot create %s", out, "", "");
    fds[1] = -1;
    if (strcmp(err, out) != 0 && (fds[1] = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
      fail("cannot create %s", err, "", "");
  }
  if (dup2(fds[0], 1) < 0 || dup2(fds[1] < 0 ? 1 : fds[1], 2) < 0) die("redirect");
  char *argv[] = {"/bin/sh", "-c", f[7], NULL};
  execve("/bin/sh", argv, &f[9]);
  die("/bin/sh");
}

/* ---- runner mode (`serve`) ---- */

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

/** Writes `len` stdin bytes to the process (it may exit without reading them: EPIPE ends the writing). */
static void feed(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    len -= (size_t)n;
  }
  close(fd);
}

/** Passes the process's failure reports (whole lines, each one write) to the runner's stdout until it execs. */
static void relay(int fd) {
  char buf[PIPE_BUF];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (write(1, buf, (size_t)n) < 0) { /* the host is gone */ }
  }
  close(fd);
}

/** Waits for the process, measures it (run-usage.h), prints `ID !usage ...` and keeps the line for the journal. */
static void measure(pid_t child, int *status) {
  if (run_usage_wait(child, status, usage_line, sizeof usage_line) != 0) die("wait");
  if (report_id) {
    char line[PIPE_BUF];
    int n = snprintf(line, sizeof line, "%s !usage %s", report_id, usage_line);
    if (n > 0 && n < (int)sizeof line && write(1, line, (size_t)n) < 0) { /* the host is gone */ }
  }
}

/** The waiter of one run (a child of the runner, on the host side): joins the run's cgroup, forks, waits. */
static void waiter(char **f, const char *data, size_t len) {
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
  if (exec_parent >= 0) close(exec_parent);
  if (f[6][0] != '\0') exit_name = f[6];
  else exit_dir = -1;
  if (setns(pidfd, CLONE_NEWPID) != 0) die("setns pid");
  int in[2] = {-1, -1}, report[2];
  if ((len > 0 && pipe2(in, O_CLOEXEC) != 0) ||
      (vm_mode ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, report) : pipe2(report, O_CLOEXEC)) != 0)
    die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(report[0]);
    if (in[1] >= 0) close(in[1]);
    process_main(f, in[0], report[1]);
  }
  if (!vm_mode) close(pidfd);
  close(report[1]);
  int listener = vm_mode ? vm_recv_listener(report[0]) : -1;
  int child_fd = listener >= 0 ? (int)syscall(SYS_pidfd_open, child, 0) : -1;
  if (in[0] >= 0) {
    close(in[0]);
    if (child_fd < 0) feed(in[1], data, len);
  }
  relay(report[0]);
  if (child_fd >= 0) { /* the VM's mount broker (it also feeds stdin), until the process ends */
    vm_broker(listener, child_fd, pidfd, in[1], data, len);
    close(child_fd);
  }
  if (listener >= 0) close(listener);
  int status;
  measure(child, &status);
  finish(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/** Starts the run of one request: `count` NUL-terminated fields at `p`, then `len` stdin bytes at `data`. */
static void launch(char *p, size_t count, const char *data, size_t len) {
  char **f = calloc(count + 1, sizeof *f);
  if (!f) die("memory");
  for (size_t i = 0; i < count; i++) {
    f[i] = p;
    p += strlen(p) + 1;
  }
  if (count < 9 || strlen(f[0]) > 64) {
    errno = EINVAL;
    die("request");
  }
  if (n_waiters == cap_waiters) {
    cap_waiters = cap_waiters ? 2 * cap_waiters : 64;
    waiters = realloc(waiters, cap_waiters * sizeof *waiters);
    if (!waiters) die("memory");
  }
  pid_t pid = fork();
  if (pid == 0) waiter(f, data, len);
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
    char *end;
    size_t size = strtoul(buf + at, &end, 10), data = strtoul(end, NULL, 10);
    size_t head = (size_t)(nl - (buf + at)) + 1;
    if (*len - at < head + size + data) break;
    char *p = buf + at + head;
    size_t count = 0;
    for (size_t i = 0; i < size; i++) count += p[i] == '\0';
    if (size == 0 || p[size - 1] != '\0') {
      errno = EINVAL;
      die("request");
    }
    launch(p, count, p + size, data);
    at += head + size + data;
  }
  memmove(buf, buf + at, *len - at);
  *len -= at;
}

/** A pidfd of the node's holder, checked (after it was opened) to be the node's PID 1 by its marker. */
static int open_holder(const char *pid, const char *node) {
  int fd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
  if (fd < 0) die("pidfd_open");
  char path[64], argv[4096], want[128];
  snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
  snprintf(want, sizeof want, MARKER "%s", node);
  int cmd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = cmd < 0 ? -1 : read(cmd, argv, sizeof argv - 1);
  if (n < 0) die(path);
  close(cmd);
  argv[n] = '\0';
  for (char *a = argv; a < argv + n; a += strlen(a) + 1)
    if (strcmp(a, want) == 0) return fd;
  errno = ESRCH;
  die("not the node's holder");
  return -1;
}

static int serve(int argc, char **argv) {
  if (argc != 8 && argc != 9) {
    fprintf(stderr, "usage: enter-node serve HOLDER_PID NODE_ID CAPS NODE_CGROUPS EXEC_PARENT JOURNAL_DIR [VM_DISKS]\n");
    return 125;
  }
  default_signals();
  if (argc == 9 && vm_parse_disks(argv[8]) != 0) die("VM_DISKS");
  drop = argv[4];
  join_cgroups(argv[5]);
  if (argv[6][0] != '\0' && (exec_parent = open(argv[6], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die(argv[6]);
  if (argv[7][0] != '\0' && (exit_dir = open(argv[7], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) die(argv[7]);
  pidfd = open_holder(argv[2], argv[3]);
  if (vm_mode && vm_open_userns(argv[2], pidfd) != 0) die("the VM's user namespace");
  /* Requests come on a descriptor of their own, close-on-exec like every other of the runner's. */
  int null = open("/dev/null", O_RDONLY);
  if ((requests = fcntl(0, F_DUPFD_CLOEXEC, 3)) < 0 || null < 0 || dup2(null, 0) < 0) die("stdin");
  close(null);
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

#include "node-login.h"

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "serve") == 0) return serve(argc, argv);
  if (argc > 1 && strcmp(argv[1], "login") == 0) return login_main(argc, argv);
  if (argc == 4 && strcmp(argv[1], "check-mount") == 0) return vm_check_mount(argv[2], argv[3]);
  fprintf(stderr, "usage: enter-node serve HOLDER_PID NODE_ID CAPS NODE_CGROUPS EXEC_PARENT JOURNAL_DIR\n");
  return 125;
}
