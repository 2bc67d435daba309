/*
 * A VM's data disks and its mount broker (ADR 0020, VMs), for enter-node.c in VM mode.
 * - The runner stats each data disk's host loop device once (vm_parse_disks: `LUN:/dev/loopN` lines).
 * - Each process entered into the VM, still host root and already in the VM's mount namespace, makes the device
 *   nodes `/dev/disk/azure/scsi1/lun<N>` (block devices, owned by the VM's root; the devices cgroup allows them).
 * - The VM's seccomp filter (vm_seccomp, node-seccomp.h) turns mount(2) into a user notification. The process
 *   hands the listener to its waiter (host root, outside the VM's PID namespace) over its report socket, and the
 *   waiter brokers each mount: it reads the arguments from the caller's memory (the notification checked valid
 *   around the reads), and allows only a block device node whose st_rdev is one of this VM's data disks, a file
 *   system of the allowlist (ext2/ext3 through the ext4 driver), a folder target (both resolved in the VM's mount
 *   namespace beneath its root, magic links refused), no data string, and plain flags (no bind, move, remount or
 *   propagation change; nosuid and nodev forced). It mounts the host's loop device (fsopen, fsmount) and attaches
 *   the mount, idmapped through the VM's user namespace (files its root makes are stored as uid 0, as in an
 * Azure VM), on the target in the VM's mount namespace (setns, move_mount). Anything else answers EPERM.
 * Part of Lazurite; MIT.
 */
#ifndef LAZURITE_VM_BROKER_H
#define LAZURITE_VM_BROKER_H

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define VM_MAX_DISKS 64
#define VM_STR_MAX 4096

static struct vm_disk {
  int lun;
  dev_t rdev;
  char host[64];
} vm_disks[VM_MAX_DISKS];
static int vm_mode, vm_n_disks;
/* The VM's user namespace: its data disks are mounted idmapped through it (the disk's root is the VM's root). */
static int vm_userns = -1;

/** Parses `LUN:/dev/loopN` lines (host side) and stats each device; 0, or -1 with errno. */
static int vm_parse_disks(const char *list) {
  vm_mode = 1;
  char *copy = strdup(list), *save = NULL;
  if (!copy) return -1;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *colon = strchr(line, ':');
    struct stat st;
    if (!colon || vm_n_disks == VM_MAX_DISKS || strlen(colon + 1) >= sizeof vm_disks[0].host ||
        stat(colon + 1, &st) != 0 || !S_ISBLK(st.st_mode)) {
      free(copy);
      errno = EINVAL;
      return -1;
    }
    vm_disks[vm_n_disks].lun = atoi(line);
    vm_disks[vm_n_disks].rdev = st.st_rdev;
    strcpy(vm_disks[vm_n_disks++].host, colon + 1);
  }
  free(copy);
  return 0;
}

/** Opens the user namespace of the VM's holder `pid`, whose pidfd (opened before) shows it is still that process. */
static int vm_open_userns(const char *pid, int pidfd) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/ns/user", pid);
  vm_userns = open(path, O_RDONLY | O_CLOEXEC);
  struct pollfd alive = {pidfd, POLLIN, 0};
  if (vm_userns < 0 || poll(&alive, 1, 0) != 0) return -1;
  return 0;
}

/** The VM's root on the host: the first host id of /proc/1/uid_map (the VM's PID 1, seen from the host). */
static long vm_root_id(void) {
  char buf[128];
  int fd = open("/proc/1/uid_map", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  long inside, outside;
  if (n <= 0) return -1;
  buf[n] = '\0';
  if (sscanf(buf, "%ld %ld", &inside, &outside) != 2 || inside != 0 || outside <= 0) return -1;
  return outside;
}

/** Opens (making it, owned by `owner`) the folder `name` of `at`, never through a link; closes `at`. */
static int vm_folder(int at, const char *name, long owner) {
  if (mkdirat(at, name, 0755) == 0) {
    if (fchownat(at, name, (uid_t)owner, (gid_t)owner, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  } else if (errno != EEXIST)
    return -1;
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  close(at);
  return fd;
}

/** The data disks' device nodes in the VM's /dev (its mount namespace, still host root); 0, or -1 with errno. */
static int vm_make_devices(void) {
  if (vm_n_disks == 0) return 0;
  long owner = vm_root_id();
  if (owner < 0) return -1;
  int dir = open("/dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const char *parts[] = {"disk", "azure", "scsi1"};
  for (int i = 0; i < 3 && dir >= 0; i++) dir = vm_folder(dir, parts[i], owner);
  if (dir < 0) return -1;
  for (int i = 0; i < vm_n_disks; i++) {
    char name[32];
    snprintf(name, sizeof name, "lun%d", vm_disks[i].lun);
    if (mknodat(dir, name, S_IFBLK | 0660, vm_disks[i].rdev) != 0 && errno != EEXIST) return -1;
    if (fchownat(dir, name, (uid_t)owner, (gid_t)owner, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  }
  close(dir);
  return 0;
}

/* ---- the checks (pure: `enter-node check-mount` runs them for the unit tests) ---- */

/** The driver for an allowed file system type (ext2 and ext3 through ext4, ADR 0020), or NULL. */
static const char *vm_mount_driver(const char *type) {
  static const char *const allowed[][2] = {
      {"ext2", "ext4"}, {"ext3", "ext4"}, {"ext4", "ext4"}, {"xfs", "xfs"}, {"vfat", "vfat"}};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (strcmp(type, allowed[i][0]) == 0) return allowed[i][1];
  return NULL;
}

/**
 * The mount attributes for mount(2) flags: nosuid and nodev always; rdonly, noexec and the atime choices as asked.
 * -1 for any other flag (bind, move, remount, propagation, mandatory locks...).
 */
static long vm_mount_attrs(unsigned long flags) {
  if ((flags & 0xffff0000UL) == MS_MGC_VAL) flags &= ~0xffff0000UL;
  const unsigned long plain = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC |
                              MS_NOATIME | MS_NODIRATIME | MS_SILENT | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME;
  if (flags & ~plain) return -1;
  long attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (flags & MS_RDONLY) attrs |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOEXEC) attrs |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NOATIME) attrs |= MOUNT_ATTR_NOATIME;
  else if (flags & MS_STRICTATIME) attrs |= MOUNT_ATTR_STRICTATIME;
  if (flags & MS_NODIRATIME) attrs |= MOUNT_ATTR_NODIRATIME;
  return attrs;
}

/** `enter-node check-mount TYPE FLAGS`: prints the checks' verdict (`refused`, or the driver and attributes). */
static int vm_check_mount(const char *type, const char *flags) {
  const char *driver = vm_mount_driver(type);
  long attrs = vm_mount_attrs(strtoul(flags, NULL, 0));
  if (!driver || attrs < 0) return puts("refused") < 0;
  return printf("%s %#lx\n", driver, attrs) < 0;
}

/** The host device of the VM's data disk with this st_rdev, or NULL. */
static const char *vm_disk_of(dev_t rdev) {
  for (int i = 0; i < vm_n_disks; i++)
    if (vm_disks[i].rdev == rdev) return vm_disks[i].host;
  return NULL;
}

/* ---- the broker (the waiter: host root, host mount namespace) ---- */

/** A NUL-terminated string at `addr` of the caller's memory, read through `mem`; 0, or -1 (too long, unreadable). */
static int vm_read_str(int mem, unsigned long long addr, char *buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    size_t page = 4096 - ((addr + got) % 4096), want = size - got < page ? size - got : page;
    ssize_t n = pread(mem, buf + got, want, (off_t)(addr + got));
    if (n <= 0) return -1;
    if (memchr(buf + got, '\0', (size_t)n)) return 0;
    got += (size_t)n;
  }
  return -1;
}

/** Resolves `path` (absolute) beneath the current root, links kept inside it and magic links refused. */
static int vm_resolve(const char *path, int flags) {
  if (path[0] != '/') return -1;
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -1;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(O_PATH | O_CLOEXEC | flags);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
  close(root);
  return fd;
}

/**
 * `path` as an absolute path of the VM (in the VM's mount namespace): a relative one is taken from the caller's
 * working folder `cwd` as it shows beneath the VM's root. The result is resolved beneath the root anyway.
 */
static const char *vm_absolute(int cwd, const char *path, char *buf, size_t size) {
  if (path[0] == '/') return path;
  char dir[VM_STR_MAX];
  if (cwd < 0 || fchdir(cwd) != 0 || !getcwd(dir, sizeof dir) || dir[0] != '/') return NULL;
  int n = snprintf(buf, size, "%s/%s", dir, path);
  return n > 0 && (size_t)n < size ? buf : NULL;
}

/**
 * The mount itself: an errno (0 on success). `vm_ns` is the VM's mount namespace, `host_ns` this one's, `cwd` the
 * caller's working folder (-1: unknown).
 */
static int vm_do_mount(int vm_ns, int host_ns, int cwd, const char *src, const char *dst, const char *driver,
                       long attrs) {
  int err = EPERM, source = -1, target = -1, fs = -1, mnt = -1;
  if (setns(vm_ns, CLONE_NEWNS) != 0) return EPERM;
  struct stat st;
  const char *host = NULL;
  char abs_src[2 * VM_STR_MAX], abs_dst[2 * VM_STR_MAX];
  src = vm_absolute(cwd, src, abs_src, sizeof abs_src);
  dst = vm_absolute(cwd, dst, abs_dst, sizeof abs_dst);
  if (src && (source = vm_resolve(src, 0)) >= 0 && fstat(source, &st) == 0 && S_ISBLK(st.st_mode))
    host = vm_disk_of(st.st_rdev);
  if (dst) target = vm_resolve(dst, O_DIRECTORY);
  if (setns(host_ns, CLONE_NEWNS) != 0) {
    fprintf(stderr, "enter-node: cannot return to the host's mount namespace\n");
    _exit(125);
  }
  if (!host || target < 0) goto out;
  if ((fs = (int)syscall(SYS_fsopen, driver, FSOPEN_CLOEXEC)) < 0 ||
      syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", host, 0) != 0 ||
      ((attrs & MOUNT_ATTR_RDONLY) && syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) != 0) ||
      syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0 ||
      (mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, (unsigned)attrs)) < 0) {
    err = errno;
    goto out;
  }
  struct mount_attr idmap;
  memset(&idmap, 0, sizeof idmap);
  idmap.attr_set = MOUNT_ATTR_IDMAP;
  idmap.userns_fd = (unsigned long long)vm_userns;
  if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &idmap, sizeof idmap) != 0) {
    err = errno;
    goto out;
  }
  if (setns(vm_ns, CLONE_NEWNS) != 0) goto out;
  err = syscall(SYS_move_mount, mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0
            ? 0
            : errno;
  if (setns(host_ns, CLONE_NEWNS) != 0) {
    fprintf(stderr, "enter-node: cannot return to the host's mount namespace\n");
    _exit(125);
  }
out:
  if (source >= 0) close(source);
  if (target >= 0) close(target);
  if (fs >= 0) close(fs);
  if (mnt >= 0) close(mnt);
  return err;
}

/** Checks one mount(2) notification and answers it (an errno, 0 when mounted). */
static int vm_broker_one(int listener, struct seccomp_notif *req, int vm_ns, int host_ns) {
  char path[64], *s = malloc(3 * VM_STR_MAX);
  if (!s) return ENOMEM;
  char *src = s, *dst = s + VM_STR_MAX, *type = s + 2 * VM_STR_MAX, data = '\0';
  snprintf(path, sizeof path, "/proc/%u/mem", req->pid);
  int mem = open(path, O_RDONLY | O_CLOEXEC), err = EPERM;
  snprintf(path, sizeof path, "/proc/%u/cwd", req->pid);
  int cwd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (mem < 0 || ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) goto out;
  if (req->data.args[0] == 0 || req->data.args[1] == 0 || req->data.args[2] == 0) goto out;
  if (vm_read_str(mem, req->data.args[0], src, VM_STR_MAX) || vm_read_str(mem, req->data.args[1], dst, VM_STR_MAX) ||
      vm_read_str(mem, req->data.args[2], type, VM_STR_MAX) ||
      (req->data.args[4] != 0 && pread(mem, &data, 1, (off_t)req->data.args[4]) != 1))
    goto out;
  /* The strings read belong to the caller still waiting: not to a process that reused its PID. */
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) goto out;
  const char *driver = vm_mount_driver(type);
  long attrs = vm_mount_attrs(req->data.args[3]);
  if (driver && attrs >= 0 && data == '\0') err = vm_do_mount(vm_ns, host_ns, cwd, src, dst, driver, attrs);
out:
  if (cwd >= 0) close(cwd);
  if (mem >= 0) close(mem);
  free(s);
  return err;
}

/** Writes what it can of the stdin bytes left (non-blocking); closes `*in` once all are written or it fails. */
static void vm_feed(int *in, const char **data, size_t *len) {
  while (*len > 0) {
    ssize_t n = write(*in, *data, *len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;
    *data += n;
    *len -= (size_t)n;
  }
  close(*in);
  *in = -1;
}

/**
 * Serves the VM's mount notifications until the process `child_fd` (a pidfd) has exited, and meanwhile writes its
 * stdin bytes to `in` (-1: none) as the pipe takes them: the command's `mount -a` runs before its shell reads the
 * script, so a blocking write of a script bigger than the pipe would wait for a mount that waits for the broker.
 */
static void vm_broker(int listener, int child_fd, int vm_pidfd, int in, const char *data, size_t len) {
  if (in >= 0 && fcntl(in, F_SETFL, O_NONBLOCK) != 0) {
    close(in);
    in = -1;
  }
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return;
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif > sizeof *req ? sizes.seccomp_notif : sizeof *req);
  struct seccomp_notif_resp *resp =
      calloc(1, sizes.seccomp_notif_resp > sizeof *resp ? sizes.seccomp_notif_resp : sizeof *resp);
  int host_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (!req || !resp || host_ns < 0) return;
  for (;;) {
    struct pollfd fds[3] = {{listener, POLLIN, 0}, {child_fd, POLLIN, 0}, {in, POLLOUT, 0}};
    if (poll(fds, in >= 0 ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in >= 0 && fds[2].revents) vm_feed(&in, &data, &len);
    if (fds[1].revents) break;
    if (fds[0].revents & (POLLHUP | POLLERR)) break;
    if (!(fds[0].revents & POLLIN)) continue;
    memset(req, 0, sizes.seccomp_notif);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) continue;
    int err = req->data.nr == __NR_mount ? vm_broker_one(listener, req, vm_pidfd, host_ns) : EPERM;
    memset(resp, 0, sizes.seccomp_notif_resp);
    resp->id = req->id;
    resp->error = -err;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) != 0) { /* the caller is gone */
    }
  }
  if (in >= 0) close(in);
  close(host_ns);
  free(req);
  free(resp);
}

/** The process: sends its filter's listener to the waiter over the report socket (one byte with the descriptor). */
static int vm_send_listener(int sock, int fd) {
  char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
  struct iovec io = {&byte, 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(ctl, 0, sizeof ctl);
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/**
 * The waiter: the listener from the process's first message, or -1 when it failed before sending one (then the
 * bytes it sent, a failure report, go on to stdout).
 */
static int vm_recv_listener(int sock) {
  char buf[512], ctl[CMSG_SPACE(sizeof(int))];
  struct iovec io = {buf, 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && buf[0] == '\0') {
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
  }
  if (n == 1 && write(1, buf, 1) < 0) { /* the host is gone */
  }
  return -1;
}

#endif
