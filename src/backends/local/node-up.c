/*
 * node-up: starts a node's holder, in place of `unshare --mount --pid --fork --uts --ipc` + the shell set-up of
 * node-sandbox.ts (`mount -a -T <fstab>`, `cp -a` of the /dev template, `echo >>` of the auto-user, the hostname,
 * `setpriv --bounding-set`, `pivot_root`, `umount -l` and the image's /bin/sh looping on `sleep`): one process
 * per node on the host side (waiting for PID 1, like `unshare --fork`) and PID 1 itself, no other exec.
 * Compiled on first use when the host has a C compiler (node-up.ts); without one the shell set-up is used.
 * Part of Lazurite; MIT.
 *
 * usage: node-up ID MARKER HOSTNAME PIDFILE CAPS CGROUPS MERGED DEVMB PASSWD GROUP UPPER FOLDERS ROOTOPTS [AT OPTS]...
 * - ID: the launcher request id; PID 1 prints `ID pid <its host PID>` first and `ID ready` once set up;
 * - MARKER: `lazurite-boot=<node id>`; PID 1 rewrites it in place to `lazurite-node=<node id>` once its host PID
 *   is in PIDFILE, so a restarted server tells a holder caught half-way (kill it) from a running one (adopt it);
 * - HOSTNAME: the node's; PIDFILE: the host file that receives PID 1's host PID;
 * - CAPS: comma-separated capability numbers PID 1 drops (bounding, permitted, effective, inheritable sets);
 * - CGROUPS: newline-separated `cgroup.procs` files joined before anything else (exit 125 when one fails);
 * - MERGED: the host folder the node's root is mounted on (in the node's own mount namespace only);
 * - DEVMB: size of the node's /dev tmpfs; PASSWD, GROUP: a line to append to /etc/passwd, /etc/group ('' none);
 * - UPPER: the root overlay's upper folder; FOLDERS: newline-separated folders (relative) made in it before it is
 *   mounted, mode 0755 (the Batch folders; a whiteout on the way — the node deleted the folder — is replaced);
 * - ROOTOPTS: the root overlay's options (lowerdir, upperdir, workdir; mounted nodev: device nodes in an image
 *   are inert); then per data disk its mount point inside the node and its overlay's options.
 * Every path set up inside the node is walked one component at a time with O_NOFOLLOW (a link is refused), on
 * top of the checks the executor made (checkInsideNode). Set-up failures exit 1 with `node-up: …` on stderr.
 * The host-side process exits with PID 1's status (128 + signal when killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER_BOOT "lazurite-boot="
#define MARKER_NODE "lazurite-node="

static void die(const char *what, const char *detail) {
  fprintf(stderr, "node-up: %s%s%s: %s\n", what, detail[0] ? " " : "", detail, strerror(errno));
  exit(1);
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL); /* EINVAL for KILL/STOP and the RT ones libc keeps */
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) die("signal mask", "");
}

static void join_cgroups(const char *list) {
  char *copy = strdup(list);
  if (!copy) die("memory", "");
  for (char *path = strtok(copy, "\n"); path; path = strtok(NULL, "\n")) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0 || close(fd) != 0) {
      fprintf(stderr, "node-up: cgroup %s: %s\n", path, strerror(errno));
      exit(125);
    }
  }
  free(copy);
}

/**
 * Opens the folder `path` (relative to the folder `at`), made with mode 0755 (less the umask) where missing or a
 * whiteout (an overlay's deleted entry: only seen in an upper), one component at a time and never through a
 * link: a link (or anything else not a folder) on the way is an error.
 */
static int folder_beneath(int at, const char *path) {
  char *copy = strdup(path);
  if (!copy) die("memory", "");
  int fd = dup(at);
  if (fd < 0) die("dup", "");
  char *save = NULL;
  for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0) {
      errno = EINVAL;
      die("path", path);
    }
    struct stat st;
    if (fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0 &&
        unlinkat(fd, part, 0) != 0)
      die("remove whiteout", path);
    if (mkdirat(fd, part, 0755) != 0 && errno != EEXIST) die("mkdir", path);
    int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) die("not a folder of the node:", path);
    if (close(fd) != 0) die("close", path);
    fd = next;
  }
  free(copy);
  return fd;
}

/** Makes the folders of the newline-separated `list` in the folder `dir` (an upper, not mounted yet). */
static void make_folders(const char *dir, const char *list) {
  int top = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0) die("open", dir);
  char *copy = strdup(list);
  if (!copy) die("memory", "");
  char *save = NULL;
  for (char *path = strtok_r(copy, "\n", &save); path; path = strtok_r(NULL, "\n", &save))
    if (close(folder_beneath(top, path)) != 0) die("close", path);
  free(copy);
  if (close(top) != 0) die("close", dir);
}

/** mount(2) onto an open folder (through its /proc/self/fd link: the folder checked, not a path resolved again). */
static void mount_at(int dir, const char *source, const char *type, unsigned long flags, const char *opts,
                     const char *what) {
  char target[64];
  snprintf(target, sizeof target, "/proc/self/fd/%d", dir);
  if (mount(source, target, type, flags, opts) != 0) die("mount", what);
}

/** Mounts `type` on the folder `path` of the node's root `root` (made if missing). */
static void mount_beneath(int root, const char *path, const char *source, const char *type,
                          unsigned long flags, const char *opts) {
  int dir = folder_beneath(root, path);
  mount_at(dir, source, type, flags, opts, path);
  if (close(dir) != 0) die("close", path);
}

/** The node's /dev (a tmpfs): the device nodes, links and folders of the shell path's template, and /dev/pts. */
static void make_dev(int root, const char *size_mb) {
  char opts[64];
  snprintf(opts, sizeof opts, "mode=755,size=%sm", size_mb);
  mount_beneath(root, "dev", "tmpfs", "tmpfs", MS_NOSUID, opts);
  int dev = folder_beneath(root, "dev");
  static const struct { const char *name; unsigned major, minor; } nodes[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0)
      die("mknod", nodes[i].name);
  static const char *const links[][2] = {{"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"},
                                         {"stdout", "/proc/self/fd/1"},   {"stderr", "/proc/self/fd/2"},
                                         {"ptmx", "pts/ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][1], dev, links[i][0]) != 0) die("symlink", links[i][0]);
  if (mkdirat(dev, "shm", 01777) != 0) die("mkdir", "/dev/shm");
  if (mkdirat(dev, ".oldroot", 0700) != 0) die("mkdir", "/dev/.oldroot");
  mount_beneath(dev, "pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  if (close(dev) != 0) die("close", "/dev");
}

/** Appends `line` and a newline to the node's /etc/`name` (created if missing), reached without links. */
static void append_line(int root, const char *name, const char *line) {
  if (line[0] == '\0') return;
  int etc = openat(root, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (etc < 0) die("not a folder of the node:", "/etc");
  int fd = openat(etc, name, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) die("open /etc/", name);
  if (dprintf(fd, "%s\n", line) < 0 || close(fd) != 0 || close(etc) != 0) die("append to /etc/", name);
}

/** Drops the capabilities in `list` from the bounding set and from this process's own sets. */
static void drop_caps(const char *list) {
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &head, data) != 0) die("capget", "");
  char *copy = strdup(list);
  if (!copy) die("memory", "");
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
    long cap = atol(tok);
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) die("capability bounding set", tok);
    if (cap < 0 || cap >= 64) continue;
    unsigned bit = 1u << (cap % 32);
    data[cap / 32].effective &= ~bit;
    data[cap / 32].permitted &= ~bit;
    data[cap / 32].inheritable &= ~bit;
  }
  free(copy);
  if (syscall(SYS_capset, &head, data) != 0) die("capset", "");
}

/** This process's PID as the host sees it (the host's /proc is still mounted at /proc). */
static int host_pid(void) {
  char buf[32];
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  if (n <= 0) die("readlink", "/proc/self");
  buf[n] = '\0';
  return atoi(buf);
}

static void write_pid(const char *file, int pid) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || dprintf(fd, "%d\n", pid) < 0 || close(fd) != 0) die("pid file", file);
}

/** Replaces the node's root by the overlay on `merged` (the host tree detached) and enters it. */
static void pivot(int root) {
  if (fchdir(root) != 0) die("chdir", "root");
  if (syscall(SYS_pivot_root, ".", "dev/.oldroot") != 0) die("pivot_root", "");
  if (chdir("/") != 0) die("chdir", "/");
  if (umount2("/dev/.oldroot", MNT_DETACH) != 0) die("umount", "/dev/.oldroot");
}

/** Stdin, stdout and stderr to the node's /dev/null; no other descriptor left (none reaches the host). */
static void quiet(void) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) die("open", "/dev/null");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(null, fd) < 0) die("dup2", "/dev/null");
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
  if (errno != ENOSYS) die("close_range", "");
  for (long fd = 3, max = sysconf(_SC_OPEN_MAX); fd < max; fd++) close((int)fd); /* kernels before 5.9 */
}

/** PID 1 of the node: reaps every process the kernel hands it, until the node is killed. */
static void reap_forever(void) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) die("signal mask", "");
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (sigwaitinfo(&chld, NULL) < 0 && errno != EINTR) die("sigwaitinfo", "");
  }
}

/** The new network namespace's loopback device up (the rest of the node's network is node-net.c's). */
static void loopback_up(void) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) die("lo", "");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0 || close(fd) != 0) die("lo up", "");
}

/** PID 1: new mount, UTS, IPC and network namespaces, the node's file systems and identity, then the root pivoted. */
static void holder(int argc, char **argv) {
  const char *id = argv[1], *pidfile = argv[4], *merged = argv[7];
  char *marker = argv[2];
  int pid = host_pid();
  printf("%s pid %d\n", id, pid);
  if (fflush(stdout) != 0) die("stdout", "");
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) { /* best effort, as the shell set-up: keep the OOM killer off PID 1 where the host allows */
    if (write(adj, "-1000", 5) < 0) { /* not allowed here: the node runs without it */
    }
    close(adj);
  }
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) != 0) die("unshare", "");
  loopback_up();
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("mount", "private /");
  umask(0);
  make_folders(argv[11], argv[12]);
  if (mount("overlay", merged, "overlay", MS_NODEV, argv[13]) != 0) die("mount overlay on", merged);
  int root = open(merged, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) die("open", merged);
  mount_beneath(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  make_dev(root, argv[8]);
  for (int i = 14; i + 1 < argc; i += 2)
    mount_beneath(root, argv[i], "overlay", "overlay", MS_NODEV, argv[i + 1]);
  append_line(root, "passwd", argv[9]);
  append_line(root, "group", argv[10]);
  umask(022);
  if (sethostname(argv[3], strlen(argv[3])) != 0) die("sethostname", argv[3]);
  write_pid(pidfile, pid);
  pivot(root);
  if (close(root) != 0) die("close", "root");
  drop_caps(argv[5]);
  /* The holder is complete: a restarted server may adopt it from now on. */
  memcpy(marker, MARKER_NODE, strlen(MARKER_NODE));
  printf("%s ready\n", id);
  if (fflush(stdout) != 0) die("stdout", "");
  quiet();
  reap_forever();
}

int main(int argc, char **argv) {
  if (argc < 14 || argc % 2 != 0 || strncmp(argv[2], MARKER_BOOT, strlen(MARKER_BOOT)) != 0) {
    fprintf(stderr, "usage: node-up ID " MARKER_BOOT "NODE HOSTNAME PIDFILE CAPS CGROUPS MERGED DEVMB PASSWD GROUP "
                    "UPPER FOLDERS ROOTOPTS [AT OPTS]...\n");
    return 125;
  }
  reset_signals();
  join_cgroups(argv[6]);
  if (unshare(CLONE_NEWPID) != 0) die("unshare", "pid");
  pid_t child = fork();
  if (child < 0) die("fork", "");
  if (child == 0) holder(argc, argv);
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait", "");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
