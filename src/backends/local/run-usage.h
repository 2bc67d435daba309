/*
 * What a run used (ADR 0031), for enter-node.c's waiter: it waits for the process it forked with waitid(WNOWAIT),
 * so the process has exited but is not reaped and its /proc/PID/io is still there, holding its own I/O and that of
 * every descendant it waited for (the kernel adds a reaped child's counters to its parent's); wait4 then reaps it
 * and gives its CPU times, its waited-for descendants' included.
 * Part of Lazurite; MIT.
 */
#ifndef LAZURITE_RUN_USAGE_H
#define LAZURITE_RUN_USAGE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/** One field of /proc/PID/io (`name: value` lines), 0 when missing. */
static unsigned long long run_usage_io_field(const char *io, const char *name) {
  size_t n = strlen(name);
  for (const char *l = io; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, name, n) == 0 && l[n] == ':') return strtoull(l + n + 1, NULL, 10);
  return 0;
}

/**
 * Waits for `child` and reaps it (its wait status in *status); writes `USER_US KERNEL_US RCHAR WCHAR SYSCR SYSCW\n`
 * to `line`. Returns 0, or -1 when waiting failed (errno set).
 */
static int run_usage_wait(pid_t child, int *status, char *line, size_t size) {
  siginfo_t si;
  while (waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT) < 0)
    if (errno != EINTR) return -1;
  char path[64], io[1024];
  snprintf(path, sizeof path, "/proc/%d/io", (int)child);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t got = fd < 0 ? -1 : read(fd, io, sizeof io - 1);
  if (fd >= 0) close(fd);
  io[got > 0 ? got : 0] = '\0';
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(child, status, 0, &ru) < 0)
    if (errno != EINTR) return -1;
  long long user = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  long long kernel = (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  snprintf(line, size, "%lld %lld %llu %llu %llu %llu\n", user, kernel, run_usage_io_field(io, "rchar"),
           run_usage_io_field(io, "wchar"), run_usage_io_field(io, "syscr"), run_usage_io_field(io, "syscw"));
  return 0;
}

#endif
