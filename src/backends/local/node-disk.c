/*
 * node-disk: mounts and unmounts a local node's own disk (ADR 0025) with the system calls themselves, as host root.
 *   node-disk mount IMAGE DIR   a free loop device (LOOP_CTL_GET_FREE) set to IMAGE with autoclear (LOOP_CONFIGURE),
 *                               its ext4 mounted on DIR with nodev and noinit_itable; the loop device goes away with
 *                               the mount's last user
 *   node-disk umount DIR        unmounts DIR (lazily when it is busy)
 *   node-disk copy FROM TO      makes TO (new, 0600) a sparse copy of FROM: only its data extents (SEEK_DATA,
 *                               SEEK_HOLE, copy_file_range), holes stay holes
 * mount(8) does the same, but probes the device with libblkid and scans /dev first: about 80 ms per node on a
 * loaded host, where these calls take a few. `cp --sparse=always` was most of the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

static void die(const char *what, const char *arg) {
  fprintf(stderr, "node-disk: %s %s: %s\n", what, arg, strerror(errno));
  exit(1);
}

static int attach(const char *image, const char *dir) {
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
  if (mount(dev, dir, "ext4", MS_NODEV, "noinit_itable") != 0) die("mount on", dir);
  /* The mount holds the device now: closing it does not clear it (autoclear waits for the mount). */
  close(loop);
  return 0;
}

static int detach(const char *dir) {
  if (umount2(dir, UMOUNT_NOFOLLOW) == 0) return 0;
  if (errno == EBUSY && umount2(dir, UMOUNT_NOFOLLOW | MNT_DETACH) == 0) return 0;
  die("umount", dir);
  return 1;
}

static int copy(const char *from, const char *to) {
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
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "mount") == 0) return attach(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "umount") == 0) return detach(argv[2]);
  if (argc == 4 && strcmp(argv[1], "copy") == 0) return copy(argv[2], argv[3]);
  fprintf(stderr, "usage: node-disk mount IMAGE DIR | node-disk umount DIR | node-disk copy FROM TO\n");
  return 2;
}
