/*
 * enter-node's login mode (ADR 0027): one SSH session's process inside a node, as a node user. Included by
 * enter-node.c after its helpers (die, default_signals, join_cgroups, drop_caps, open_holder, keep_only's rules).
 * Part of Lazurite; MIT.
 *
 * usage: enter-node login HOLDER_PID NODE_ID CAPS NODE_CGROUPS UID NAME SHELL PTY TERM ROWS COLS
 * - joins NODE_CGROUPS, opens a pidfd of HOLDER_PID checked by its marker (as `serve`);
 * - reads the command from fd 3: its first line, hex-encoded (an empty line: a login shell); later lines on fd 3
 *   are `ROWS COLS` window size changes (PTY=1);
 * - forks the session's process into the node's PID namespace. It keeps no host descriptor: only its stdio (the
 *   server's pipes, PTY=0) or the socket that hands the pseudo-terminal's master to the host side (PTY=1). It
 *   installs the node's filter while host root, joins the node's namespaces, becomes the node's root, opens the
 *   node's own /dev/ptmx (PTY=1; the terminal belongs to the node's devpts), drops CAPS, becomes UID/GID=UID with
 *   no_new_privs and execs SHELL (`-`: /bin/bash if the node has it, else /bin/sh; `-l` or `-c COMMAND`) in /home/NAME with HOME, USER, LOGNAME, SHELL, PATH, TERM;
 * - the host side (this process, in the host's namespaces, in the node's cgroups) relays stdin/stdout to the
 *   master, applies window sizes, waits, and exits with the session's status (128 + signal when killed).
 */
#ifndef NODE_LOGIN_H
#define NODE_LOGIN_H

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

/** Reads fd 3's first line (hex) into a fresh string: the command, "" for a login shell. */
static char *login_command(void) {
  size_t cap = 256, len = 0;
  char *hex = malloc(cap);
  if (!hex) die("memory");
  for (;;) {
    char c;
    ssize_t n = read(3, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    if (len + 1 >= cap && !(hex = realloc(hex, cap *= 2))) die("memory");
    hex[len++] = c;
  }
  char *cmd = malloc(len / 2 + 1);
  if (!cmd) die("memory");
  for (size_t i = 0; i + 1 < len; i += 2) {
    char byte[3] = {hex[i], hex[i + 1], '\0'};
    cmd[i / 2] = (char)strtol(byte, NULL, 16);
  }
  cmd[len / 2] = '\0';
  free(hex);
  if (strlen(cmd) != len / 2) {
    errno = EINVAL;
    die("command");
  }
  return cmd;
}

static void login_size(int master, int rows, int cols) {
  struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
  if (rows > 0 && cols > 0) ioctl(master, TIOCSWINSZ, &ws);
}

/** The session's process: joins the node, takes its terminal (PTY), becomes the user, execs the shell. */
static void login_process(char **argv, const char *cmd, int sock) {
  uid_t uid = (uid_t)atol(argv[6]);
  const char *name = argv[7], *shell = argv[8], *term = argv[10];
  int pty = strcmp(argv[9], "1") == 0;
  default_signals();
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("dumpable");
  /* Keep stdio (PTY=0: the server's pipes), the pidfd and the socket; close every other host descriptor. */
  int hi_pid = fcntl(pidfd, F_DUPFD_CLOEXEC, 64), hi_sock = pty ? fcntl(sock, F_DUPFD_CLOEXEC, 65) : -1;
  if (hi_pid < 0 || (pty && hi_sock < 0)) die("fcntl");
  move_fd(hi_pid, 3);
  pidfd = 3;
  if (pty) move_fd(hi_sock, 4);
  if (syscall(SYS_close_range, pty ? 5u : 4u, ~0u, 0u) != 0) die("close_range");
  if (node_seccomp() != 0) die("seccomp");
  if (setns(pidfd, NODE_NAMESPACES) != 0) die("setns");
  if (setns(pidfd, CLONE_NEWUSER) != 0) die("setns user");
  if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) die("node root");
  close(pidfd);
  if (setsid() < 0) die("setsid");
  if (pty) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || unlockpt(master) != 0) die("/dev/ptmx");
    char slave[64];
    if (ptsname_r(master, slave, sizeof slave) != 0) die("ptsname");
    if (vm_send_listener(4, master) != 0) die("send the terminal");
    close(master);
    close(4);
    int tty = open(slave, O_RDWR);
    if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0) die(slave);
    if (fchown(tty, uid, uid) != 0 || fchmod(tty, 0620) != 0) die("the terminal's owner");
    if (dup2(tty, 0) < 0 || dup2(tty, 1) < 0 || dup2(tty, 2) < 0) die("dup2");
    if (tty > 2) close(tty);
  }
  /* "-": the node's bash when it has one (as the passwd line the server wrote says), else its sh. */
  if (strcmp(shell, "-") == 0) shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
  drop_caps(drop);
  if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) die("the user");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  char home[PATH_MAX], envs[6][PATH_MAX + 16];
  snprintf(home, sizeof home, "/home/%s", name);
  if (chdir(home) != 0 && chdir("/") != 0) die("chdir");
  snprintf(envs[0], sizeof envs[0], "HOME=%s", home);
  snprintf(envs[1], sizeof envs[1], "USER=%s", name);
  snprintf(envs[2], sizeof envs[2], "LOGNAME=%s", name);
  snprintf(envs[3], sizeof envs[3], "SHELL=%s", shell);
  snprintf(envs[4], sizeof envs[4], "PATH=/usr/local/bin:/usr/bin:/bin");
  snprintf(envs[5], sizeof envs[5], "TERM=%s", term);
  char *env[] = {envs[0], envs[1], envs[2], envs[3], envs[4], envs[5], NULL};
  char *login_argv[] = {(char *)shell, "-l", NULL};
  char *cmd_argv[] = {(char *)shell, "-c", (char *)cmd, NULL};
  execve(shell, cmd[0] ? cmd_argv : login_argv, env);
  die(shell);
}

/** Copies what is readable on `from` to `to`; 0 at the end (or an error) of `from`. */
static int login_pass(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0;
  for (ssize_t at = 0; at < n;) {
    ssize_t w = write(to, buf + at, (size_t)(n - at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    at += w;
  }
  return 1;
}

/** The host side of a terminal session: stdin → master, master → stdout, fd 3 → window sizes. */
static void login_relay(int master, int rows, int cols) {
  login_size(master, rows, cols);
  int in_open = 1, ctl_open = 1;
  char ctl[64];
  size_t ctl_len = 0;
  for (;;) {
    struct pollfd fds[3] = {{master, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}, {ctl_open ? 3 : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents && !login_pass(master, 1)) break; /* EIO: the session's last process closed it */
    if (fds[1].revents && !login_pass(0, master)) in_open = 0;
    if (fds[2].revents) {
      ssize_t n = read(3, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (n <= 0) ctl_open = 0;
      else ctl_len += (size_t)n;
      char *nl;
      while ((nl = memchr(ctl, '\n', ctl_len))) {
        *nl = '\0';
        int r = 0, c = 0;
        if (sscanf(ctl, "%d %d", &r, &c) == 2) login_size(master, r, c);
        ctl_len -= (size_t)(nl + 1 - ctl);
        memmove(ctl, nl + 1, ctl_len);
      }
      if (ctl_len == sizeof ctl - 1) ctl_len = 0;
    }
  }
}

static int login_main(int argc, char **argv) {
  if (argc != 13) {
    fprintf(stderr, "usage: enter-node login HOLDER_PID NODE_ID CAPS NODE_CGROUPS UID NAME SHELL PTY TERM ROWS COLS\n");
    return 125;
  }
  default_signals();
  signal(SIGPIPE, SIG_IGN);
  drop = argv[4];
  long uid = atol(argv[6]);
  if (uid < 40000 || uid > 49999 || (argv[8][0] != '/' && strcmp(argv[8], "-") != 0) || strchr(argv[7], '/')) {
    errno = EINVAL;
    die("login");
  }
  join_cgroups(argv[5]);
  pidfd = open_holder(argv[2], argv[3]);
  char *cmd = login_command();
  int pty = strcmp(argv[9], "1") == 0;
  if (setns(pidfd, CLONE_NEWPID) != 0) die("setns pid");
  int sock[2] = {-1, -1};
  if (pty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) != 0) die("socketpair");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    if (pty) close(sock[0]);
    login_process(argv, cmd, sock[1]);
  }
  close(pidfd);
  if (pty) {
    close(sock[1]);
    int master = vm_recv_listener(sock[0]);
    close(sock[0]);
    if (master >= 0) login_relay(master, atoi(argv[11]), atoi(argv[12]));
  }
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("wait");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
