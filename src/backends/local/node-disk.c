/*
 * node-disk: makes, mounts and unmounts a local node's own disk (ADR 0025, ADR 0034) with the system calls
 * themselves, as host root, in one process per step.
 *   node-disk attach TEMPLATE IMAGE DIR
 *       nothing when DIR is already a mount point; else, when IMAGE does not exist: exit 3 if DIR/upper exists (a
 *       node made before nodes had disks), else IMAGE becomes a sparse copy of TEMPLATE (its data extents only:
 *       SEEK_DATA, SEEK_HOLE, copy_file_range; made as IMAGE.partial, then renamed); then DIR is made and IMAGE
 *       mounted on it: a free loop device (LOOP_CTL_GET_FREE; when a concurrent attach binds it first, asked again:
 *       an flock around the two was slower on a loaded host) set to IMAGE with autoclear (LOOP_CONFIGURE), its
 *       ext4 mounted with nodev and MOUNT_OPTIONS; the loop device goes away with the mount's last user.
 *       TEMPLATE may be `-` when IMAGE exists (a reboot).
 *   node-disk umount DIR        unmounts DIR (lazily when it is busy)
 * mount(8) does the same, but probes the device with libblkid and scans /dev first: about 80 ms per node on a
 * loaded host, where these calls take a few. `cp --sparse=always` was most of the rest, and a second exec from the
 * server (copy, then mount) another few ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * noinit_itable: the kernel never zeroes the inode tables in the background. no_prefetch_block_bitmaps: nor reads
 * every group's block bitmap through the loop device after the mount. nobarrier: no cache flush (an fsync of the
 * image on the host's disk) at unmount or sync: a scratch disk need not survive a host crash (ADR 0025).
 */
#define MOUNT_OPTIONS "noinit_itable,no_prefetch_block_bitmaps,nobarrier"

static void die(const char *what, const char *arg) {
  fprintf(stderr, "node-disk: %s %s: %s\n", what, arg, strerror(errno));
  exit(1);
}

static void mount_image(const char *image, const char *dir) {
  int file = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (file < 0) die("open", image);
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) die("open", "/dev/loop-control");
  char dev[32];
  int loop = -1;
  /* Another process may take the free device first: then ask again. */
  for (int tries = 0; loop < 0 && tries < 64; tries++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) die("loop-control", "get free");
    snprintf(dev, sizeof dev, "/dev/loop%d", n);
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue; /* devtmpfs has not shown it yet */
      die("open", dev);
    }
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (unsigned)file;
    config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    strncpy((char *)config.info.lo_file_name, image, LO_NAME_SIZE - 1);
    if (ioctl(fd, LOOP_CONFIGURE, &config) == 0) {
      loop = fd;
      break;
    }
    int err = errno;
    close(fd);
    if (err != EBUSY) {
      errno = err;
      die("configure", dev);
    }
  }
  if (loop < 0) die("no free loop device for", image);
  close(file);
  close(ctl);
  if (mount(dev, dir, "ext4", MS_NODEV, MOUNT_OPTIONS) != 0) die("mount on", dir);
  /* The mount holds the device now: closing it does not clear it (autoclear waits for the mount). */
  close(loop);
}

static int detach(const char *dir) {
  if (umount2(dir, UMOUNT_NOFOLLOW) == 0) return 0;
  if (errno == EBUSY && umount2(dir, UMOUNT_NOFOLLOW | MNT_DETACH) == 0) return 0;
  die("umount", dir);
  return 1;
}

static void copy(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) die("open", from);
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) die("create", to);
  off_t end = lseek(in, 0, SEEK_END);
  if (end < 0) die("seek", from);
  off_t at = lseek(in, 0, SEEK_DATA);
  while (at >= 0 && at < end) {
    off_t hole = lseek(in, at, SEEK_HOLE);
    if (hole < 0) die("seek", from);
    while (at < hole) {
      off_t src = at, dst = at;
      ssize_t n = copy_file_range(in, &src, out, &dst, (size_t)(hole - at), 0);
      if (n <= 0) die("copy to", to);
      at += n;
    }
    at = lseek(in, at, SEEK_DATA);
  }
  if (at < 0 && errno != ENXIO) die("seek", from); /* ENXIO: no data past here */
  if (ftruncate(out, end) != 0) die("size", to);
  if (close(out) != 0) die("close", to);
  close(in);
}

/* Whether DIR is a mount point: on another device than its parent. */
static int mounted(const char *dir) {
  char parent[4096];
  struct stat own, up;
  if (snprintf(parent, sizeof parent, "%s", dir) >= (int)sizeof parent) die("path too long", dir);
  if (stat(dir, &own) != 0 || stat(dirname(parent), &up) != 0) return 0;
  return own.st_dev != up.st_dev;
}

static int attach(const char *template, const char *image, const char *dir) {
  if (mounted(dir)) return 0;
  if (access(image, F_OK) != 0) {
    if (errno != ENOENT) die("access", image);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/upper", dir) >= (int)sizeof path) die("path too long", dir);
    if (access(path, F_OK) == 0) return 3; /* a node from before disks: it keeps the host's file system */
    if (strcmp(template, "-") == 0) die("no image and no template for", image);
    if (snprintf(path, sizeof path, "%s.partial", image) >= (int)sizeof path) die("path too long", image);
    if (unlink(path) != 0 && errno != ENOENT) die("remove", path);
    copy(template, path);
    if (rename(path, image) != 0) die("rename", path);
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("mkdir", dir);
  mount_image(image, dir);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "attach") == 0) return attach(argv[2], argv[3], argv[4]);
  if (argc == 3 && strcmp(argv[1], "umount") == 0) return detach(argv[2]);
  fprintf(stderr, "usage: node-disk attach TEMPLATE|- IMAGE DIR | node-disk umount DIR\n");
  return 2;
}
