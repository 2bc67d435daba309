/*
 * node-up: starts a node's holder, in place of `unshare --mount --pid --fork --uts --ipc` + the shell set-up of
 * node-sandbox.ts (`mount -a -T <fstab>`, `cp -a` of the /dev template, `echo >>` of the auto-user, the hostname,
 * `setpriv --bounding-set`, `pivot_root`, `umount -l` and the image's /bin/sh looping on `sleep`): one process
 * per node on the host side (waiting for PID 1, like `unshare --fork`) and PID 1 itself, no other exec.
 * Compiled on first use when the host has a C compiler (node-up.ts); without one the shell set-up is used.
 * Part of Lazurite; MIT.
 *
 * usage: node-up ID MARKER HOSTNAME PIDFILE CAPS CGROUPS MERGED DEVMB PASSWD GROUP NODEDIR FOLDERS BASE LAYERAT LOWERS
 *                [AT LOWER SUBDIR]...
 * - ID: the launcher request id; PID 1 prints `ID pid <its host PID>` first and `ID ready` once set up;
 * - MARKER: `lazurite-boot=<node id>`; PID 1 rewrites it in place to `lazurite-node=<node id>` once its host PID
 *   is in PIDFILE, so a restarted server tells a holder caught half-way (kill it) from a running one (adopt it);
 * - HOSTNAME: the node's; PIDFILE: the host file that receives PID 1's host PID;
 * - CAPS: comma-separated capability numbers dropped from the bounding set (PID 1 keeps no capability at all);
 * - CGROUPS: newline-separated `cgroup.procs` files joined before anything else (exit 125 when one fails);
 * - MERGED: the host folder the node's root is mounted on (in the node's own mount namespace only);
 * - DEVMB: size of the node's /dev tmpfs; PASSWD, GROUP: a line to append to /etc/passwd, /etc/group ('' none);
 * - NODEDIR: the node's folder on the host, holding `upper/`, `work/` and `SUBDIR/{upper,work}` per data disk;
 *   FOLDERS: newline-separated folders (relative) made in `upper/` before it is mounted, mode 0755 (the Batch
 *   folders; a whiteout on the way — the node deleted the folder — is replaced);
 * - BASE: the first host uid/gid of the node's 65536 ids (node id k is host id BASE + k, ADR 0020);
 * - LAYERAT: an empty host folder; in the node's mount namespace a tmpfs on it holds the idmapped layers;
 * - LOWERS: the root overlay's lower folders, colon-separated, topmost first; then per data disk its mount point
 *   inside the node, its lower (the disk's read-only mount) and its folder under NODEDIR.
 * Namespaces: the host-side process makes the PID namespace; PID 1 makes the mount, UTS, IPC, network and cgroup
 * namespaces, all as host root, so they belong to the host's user namespace and root in the node holds no
 * capability over them (it cannot mount, set the hostname or change its network). Then PID 1 makes the node's own
 * user namespace, the host-side process maps it (`0 BASE 65536`) and PID 1 becomes its root. Every layer of the
 * overlays is an idmapped mount (a helper user namespace mapping `0 BASE 65536` and `65536 0 1`, the last for the
 * host root that mounts the overlay and makes its work folders), so the files on disk keep unshifted ids.
 * Every path set up inside the node is walked one component at a time with O_NOFOLLOW (a link is refused), on
 * top of the checks the executor made (checkInsideNode). Set-up failures exit 1 with `node-up: …` on stderr.
 * The host-side process exits with PID 1's status (128 + signal when killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node-seccomp.h"

#define MARKER_BOOT "lazurite-boot="
#define MARKER_NODE "lazurite-node="
#define NODE_IDS 65536
/* _azbatchgrp, the shared folder's group (src/backends/node-user-ids.ts, NODE_IDS.sharedGroup). */
#define SHARED_GID 20000

/* The node's root on the host (BASE); folders and device nodes made inside the node get it (-1: none yet). */
static long node_root = -1;

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
    if (mkdirat(fd, part, 0755) == 0) {
      if (node_root >= 0 && fchownat(fd, part, (uid_t)node_root, (gid_t)node_root, AT_SYMLINK_NOFOLLOW) != 0)
        die("chown", path);
    } else if (errno != EEXIST)
      die("mkdir", path);
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
  for (char *path = strtok_r(copy, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
    int fd = folder_beneath(top, path);
    /* Every task of the node may write the shared folder (AZ_BATCH_NODE_SHARED_DIR), as in Batch: it belongs
       to the group every task user is in (_azbatchgrp, ADR 0026), setgid so what is made in it does too, sticky
       so no task removes another's files. Ids as stored in the upper are the node's (its layers are idmapped). */
    size_t n = strlen(path);
    if (n >= 7 && strcmp(path + n - 7, "/shared") == 0 &&
        (fchown(fd, (uid_t)-1, SHARED_GID) != 0 || fchmod(fd, 03775) != 0))
      die("chown/chmod", path);
    if (close(fd) != 0) die("close", path);
  }
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
  char opts[128];
  snprintf(opts, sizeof opts, "mode=755,size=%sm,uid=%ld,gid=%ld", size_mb, node_root, node_root);
  mount_beneath(root, "dev", "tmpfs", "tmpfs", MS_NOSUID, opts);
  int dev = folder_beneath(root, "dev");
  static const struct { const char *name; unsigned major, minor; } nodes[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0 ||
        fchownat(dev, nodes[i].name, (uid_t)node_root, (gid_t)node_root, 0) != 0)
      die("mknod", nodes[i].name);
  static const char *const links[][2] = {{"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"},
                                         {"stdout", "/proc/self/fd/1"},   {"stderr", "/proc/self/fd/2"},
                                         {"ptmx", "pts/ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][1], dev, links[i][0]) != 0) die("symlink", links[i][0]);
  if (mkdirat(dev, "shm", 01777) != 0 || fchownat(dev, "shm", (uid_t)node_root, (gid_t)node_root, 0) != 0)
    die("mkdir", "/dev/shm");
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
  struct stat st; /* made just now by host root (the node's own files show as its ids): the node's root owns it */
  if (fstat(fd, &st) != 0 || (st.st_uid == 0 && fchown(fd, (uid_t)node_root, (gid_t)node_root) != 0))
    die("chown /etc/", name);
  if (dprintf(fd, "%s\n", line) < 0 || close(fd) != 0 || close(etc) != 0) die("append to /etc/", name);
}

/** Drops the capabilities in `list` from the bounding set and every capability from this process's own sets. */
static void drop_caps(const char *list) {
  char *copy = strdup(list);
  if (!copy) die("memory", "");
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
    if (prctl(PR_CAPBSET_DROP, atol(tok), 0, 0, 0) != 0 && errno != EINVAL) die("capability bounding set", tok);
  free(copy);
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct none[2];
  memset(none, 0, sizeof none);
  if (syscall(SYS_capset, &head, none) != 0) die("capset", "");
}

static void write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) die("write", path);
}

/** Writes the uid and gid maps of process `pid`'s user namespace. */
static void map_ids(pid_t pid, const char *map) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  write_text(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  write_text(path, map);
}

/**
 * The helper user namespace of the node's idmapped layers: `0 BASE 65536` (the node's ids) and `65536 0 1` (host
 * root, the overlay's mounter: without it the kernel cannot store its work folders and copy-ups). Only mounts use
 * it; no process stays in it. Returns a descriptor of it.
 */
static int idmap_userns(long base) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) die("pipe", "");
  pid_t child = fork();
  if (child < 0) die("fork", "");
  if (child == 0) {
    char b = 0;
    if (unshare(CLONE_NEWUSER) != 0) _exit(1);
    if (write(ready[1], &b, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char b, map[96], path[64];
  if (read(ready[0], &b, 1) != 1) die("idmap user namespace", "");
  close(ready[0]);
  snprintf(map, sizeof map, "0 %ld %d\n%d 0 1\n", base, NODE_IDS, NODE_IDS);
  map_ids(child, map);
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  kill(child, SIGKILL);
  while (waitpid(child, NULL, 0) < 0)
    if (errno != EINTR) die("wait", "");
  return fd;
}

/** Mounts the folder `source` idmapped through `userns` on the new folder `name` of the folder `at`. */
static void idmapped(int at, const char *name, const char *source, int userns) {
  if (mkdirat(at, name, 0700) != 0) die("mkdir", name);
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) die("open_tree", source);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (unsigned long long)userns;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) die("idmap", source);
  if (syscall(SYS_move_mount, tree, "", at, name, MOVE_MOUNT_F_EMPTY_PATH) != 0) die("move_mount", source);
  close(tree);
}

/** `lo` up in the node's network namespace; node root may bind ports below 1024 and ping there. */
static void network(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket", "");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) die("lo", "flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) die("lo", "up");
  close(sock);
  write_text("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n");
  write_text("/proc/sys/net/ipv4/ping_group_range", "0 2147483647\n");
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

/**
 * The layers of the node's overlays, each idmapped (idmapped), on a tmpfs at LAYERAT: the node's folder as `n`,
 * the root's lowers as `l<i>` and each data disk's lower as `d<k>`. Returns the root overlay's options and puts
 * each data disk's in `disks` (in the order of the arguments).
 */
static char *mount_layers(int argc, char **argv, int userns, char **disks) {
  const char *at = argv[14];
  if (mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700,size=64k") != 0)
    die("mount tmpfs on", at);
  int dir = open(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) die("open", at);
  idmapped(dir, "n", argv[11], userns);
  char *opts = NULL, name[32];
  size_t size;
  FILE *out = open_memstream(&opts, &size);
  if (!out) die("memory", "");
  char *lowers = strdup(argv[15]), *save = NULL;
  if (!lowers) die("memory", "");
  fputs("lowerdir=", out);
  int i = 0;
  for (char *lower = strtok_r(lowers, ":", &save); lower; lower = strtok_r(NULL, ":", &save), i++) {
    snprintf(name, sizeof name, "l%d", i);
    idmapped(dir, name, lower, userns);
    fprintf(out, "%s%s/%s", i ? ":" : "", at, name);
  }
  fprintf(out, ",upperdir=%s/n/upper,workdir=%s/n/work", at, at);
  if (fclose(out) != 0) die("memory", "");
  free(lowers);
  for (int d = 0, k = 16; k + 2 < argc; d++, k += 3) {
    snprintf(name, sizeof name, "d%d", d);
    idmapped(dir, name, argv[k + 1], userns);
    const char *sub = argv[k + 2];
    if (asprintf(&disks[d], "lowerdir=%s/%s,upperdir=%s/n/%s/upper,workdir=%s/n/%s/work", at, name, at, sub, at,
                 sub) < 0)
      die("memory", "");
  }
  close(dir);
  return opts;
}

/**
 * Becomes root of the node's own user namespace: made here, mapped by the host-side process (told through `up`,
 * done when it answers on `down`), then uid and gid 0 in it — host ids BASE, not host root.
 */
static void node_user(int up, int down) {
  if (unshare(CLONE_NEWUSER) != 0) die("unshare", "user");
  char b = 'u';
  if (write(up, &b, 1) != 1 || read(down, &b, 1) != 1) die("user namespace", "not mapped");
  close(up);
  close(down);
  if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) die("node root", "");
}

/** PID 1: the node's namespaces (as host root), file systems and identity, the root pivoted, its user namespace. */
static void holder(int argc, char **argv, int userns, int up, int down) {
  const char *id = argv[1], *pidfile = argv[4], *merged = argv[7];
  char *marker = argv[2];
  int pid = host_pid();
  printf("%s pid %d\n", id, pid);
  if (fflush(stdout) != 0) die("stdout", "");
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) { /* best effort: keep the OOM killer off PID 1 where the host allows */
    if (write(adj, "-1000", 5) < 0) { /* not allowed here: the node runs without it */
    }
    close(adj);
  }
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP) != 0) die("unshare", "");
  network();
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("mount", "private /");
  umask(0);
  char *upper;
  if (asprintf(&upper, "%s/upper", argv[11]) < 0) die("memory", "");
  make_folders(upper, argv[12]);
  char **disks = calloc((size_t)argc, sizeof *disks);
  if (!disks) die("memory", "");
  char *opts = mount_layers(argc, argv, userns, disks);
  close(userns);
  if (mount("overlay", merged, "overlay", MS_NODEV, opts) != 0) die("mount overlay on", merged);
  node_root = atol(argv[13]);
  int root = open(merged, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) die("open", merged);
  mount_beneath(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  make_dev(root, argv[8]);
  for (int d = 0, k = 16; k + 2 < argc; d++, k += 3)
    mount_beneath(root, argv[k], "overlay", "overlay", MS_NODEV, disks[d]);
  append_line(root, "passwd", argv[9]);
  append_line(root, "group", argv[10]);
  umask(022);
  if (sethostname(argv[3], strlen(argv[3])) != 0) die("sethostname", argv[3]);
  write_pid(pidfile, pid);
  pivot(root);
  if (close(root) != 0) die("close", "root");
  node_user(up, down);
  if (node_seccomp() != 0) die("seccomp", "");
  drop_caps(argv[5]);
  /* The holder is complete: a restarted server may adopt it from now on. */
  memcpy(marker, MARKER_NODE, strlen(MARKER_NODE));
  printf("%s ready\n", id);
  if (fflush(stdout) != 0) die("stdout", "");
  /* Its argv is readable in the node (/proc/1/cmdline): nothing of the host's paths stays there, only the marker. */
  for (int i = 0; i < argc; i++)
    if (argv[i] != marker) memset(argv[i], 0, strlen(argv[i]));
  quiet();
  reap_forever();
}

int main(int argc, char **argv) {
  if (argc < 16 || (argc - 16) % 3 != 0 || strncmp(argv[2], MARKER_BOOT, strlen(MARKER_BOOT)) != 0 ||
      atol(argv[13]) <= 0) {
    fprintf(stderr, "usage: node-up ID " MARKER_BOOT "NODE HOSTNAME PIDFILE CAPS CGROUPS MERGED DEVMB PASSWD GROUP "
                    "NODEDIR FOLDERS BASE LAYERAT LOWERS [AT LOWER SUBDIR]...\n");
    return 125;
  }
  long base = atol(argv[13]);
  reset_signals();
  join_cgroups(argv[6]);
  int userns = idmap_userns(base);
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0) die("pipe", "");
  if (unshare(CLONE_NEWPID) != 0) die("unshare", "pid");
  pid_t child = fork();
  if (child < 0) die("fork", "");
  if (child == 0) {
    close(up[0]);
    close(down[1]);
    holder(argc, argv, userns, up[1], down[0]);
  }
  close(userns);
  close(up[1]);
  close(down[0]);
  char b, map[64];
  if (read(up[0], &b, 1) == 1) { /* PID 1 made its user namespace: map the node's ids, then let it go on */
    snprintf(map, sizeof map, "0 %ld %d\n", base, NODE_IDS);
    map_ids(child, map);
    if (write(down[1], &b, 1) != 1) die("write", "");
  }
  close(up[0]);
  close(down[1]);
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait", "");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
