/*
 * node-net: a node's network (ADR 0021), with rtnetlink system calls and no other process.
 * Compiled on first use like node-up (compile-helper.ts). Part of Lazurite; MIT.
 *
 * usage:
 *   node-net bridge NAME GATEWAY PREFIX
 *     The host's bridge for one subnet: made if missing, GATEWAY/PREFIX on it (kept if there), up.
 *   node-net veth HOLDERPID BRIDGE HOSTIF ADDRESS PREFIX GATEWAY
 *     A veth pair: HOSTIF on the host, enslaved to BRIDGE, up; its peer made directly in the network namespace
 *     of the node's PID 1 (HOLDERPID) as `eth0`, up, with ADDRESS/PREFIX and a default route via GATEWAY; `lo` up
 *     there too. Neither end nor the bridge has IPv6 (see no_ipv6). A HOSTIF left from before (an adopted node) is deleted first, so the call is idempotent. The
 *     namespace is opened once through /proc/HOLDERPID/ns/net and checked against a pidfd of the same process
 *     (the PID was not reused in between), then entered by that pidfd. A holder still in the host's namespace is
 *     waited for (up to a second: it reports its PID just before it unshares), then refused.
 *   node-net delete NAME
 *     Deletes the link NAME (a bridge at shutdown) if there is one.
 * Failures exit 1 with `node-net: …` on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static void die(const char *what, const char *detail, int err) {
  fprintf(stderr, "node-net: %s%s%s: %s\n", what, detail[0] ? " " : "", detail, strerror(err));
  exit(1);
}

/** One rtnetlink request being built: a header, a fixed part and attributes, all 4-byte aligned. */
struct req {
  union {
    struct nlmsghdr head;
    char buf[1024];
  } u;
};

static void *put(struct req *r, size_t len) {
  size_t at = NLMSG_ALIGN(r->u.head.nlmsg_len);
  if (at + RTA_ALIGN(len) > sizeof r->u.buf) die("request", "too long", E2BIG);
  void *p = r->u.buf + at;
  memset(p, 0, RTA_ALIGN(len));
  r->u.head.nlmsg_len = (unsigned)(at + len);
  return p;
}

static void *start(struct req *r, unsigned short type, unsigned short flags, size_t fixed) {
  memset(&r->u.head, 0, sizeof r->u.head);
  r->u.head.nlmsg_len = NLMSG_HDRLEN;
  r->u.head.nlmsg_type = type;
  r->u.head.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  return put(r, fixed);
}

static void attr(struct req *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = put(r, RTA_LENGTH(len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
}

static struct rtattr *nest(struct req *r, unsigned short type) {
  struct rtattr *a = put(r, RTA_LENGTH(0));
  a->rta_type = type;
  return a;
}

static void nest_end(struct req *r, struct rtattr *a) {
  a->rta_len = (unsigned short)(r->u.buf + r->u.head.nlmsg_len - (char *)a);
}

static int netlink(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die("netlink socket", "", errno);
  return fd;
}

/** Sends the request and reads its acknowledgement: 0 or the kernel's errno. */
static int talk(int fd, struct req *r) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, r->u.buf, r->u.head.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    die("netlink send", "", errno);
  char reply[4096];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("netlink receive", "", errno);
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n))
      if (h->nlmsg_type == NLMSG_ERROR) return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
  }
}

static void ok_or(int err, int allowed, const char *what, const char *detail) {
  if (err != 0 && err != allowed) die(what, detail, err);
}

static struct in_addr ipv4(const char *text) {
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1) die("not an IPv4 address:", text, EINVAL);
  return a;
}

static unsigned char prefix_of(const char *text) {
  char *end;
  long n = strtol(text, &end, 10);
  if (*end != '\0' || n < 1 || n > 30) die("not a prefix length:", text, EINVAL);
  return (unsigned char)n;
}

/** RTM_NEWLINK on an existing link: flags up. */
static void link_up(int fd, int index, const char *name) {
  struct req r;
  struct ifinfomsg *i = start(&r, RTM_NEWLINK, 0, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = index;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  ok_or(talk(fd, &r), 0, "link up", name);
}

static void add_address(int fd, int index, struct in_addr a, unsigned char prefix, const char *name) {
  struct req r;
  struct ifaddrmsg *m = start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *m);
  m->ifa_family = AF_INET;
  m->ifa_prefixlen = prefix;
  m->ifa_scope = RT_SCOPE_UNIVERSE;
  m->ifa_index = (unsigned)index;
  attr(&r, IFA_LOCAL, &a, sizeof a);
  attr(&r, IFA_ADDRESS, &a, sizeof a);
  ok_or(talk(fd, &r), EEXIST, "address on", name);
}

/**
 * No IPv6 on `name`: no link-local address, so no duplicate address detection, router or listener messages that
 * the bridge would flood to every other node each time a node comes up. A kernel without IPv6 has no such file.
 */
static void no_ipv6(const char *name) {
  char path[96];
  snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return;
  if (fd < 0 || write(fd, "1", 1) != 1 || close(fd) != 0) die("disable IPv6 on", name, errno);
}

static int index_of(const char *name) {
  unsigned index = if_nametoindex(name);
  if (index == 0) die("no interface", name, errno);
  return (int)index;
}

static void bridge(const char *name, const char *gateway, const char *prefix) {
  if (strlen(name) >= IFNAMSIZ) die("interface name too long:", name, EINVAL);
  int fd = netlink();
  struct req r;
  struct ifinfomsg *i = start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  struct rtattr *info = nest(&r, IFLA_LINKINFO);
  attr(&r, IFLA_INFO_KIND, "bridge", 7);
  nest_end(&r, info);
  ok_or(talk(fd, &r), EEXIST, "bridge", name);
  no_ipv6(name);
  int index = index_of(name);
  add_address(fd, index, ipv4(gateway), prefix_of(prefix), name);
  link_up(fd, index, name);
}

/** A descriptor of the holder's network namespace, and a pidfd of the holder (checked alive after the open). */
static void open_node(const char *pid_text, int *ns, int *pidfd) {
  char *end;
  long pid = strtol(pid_text, &end, 10);
  if (*end != '\0' || pid < 2) die("not a PID:", pid_text, EINVAL);
  *pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0u);
  if (*pidfd < 0) die("pidfd_open", pid_text, errno);
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
  struct stat node, host;
  if (stat("/proc/self/ns/net", &host) != 0) die("stat", "/proc/self/ns/net", errno);
  /*
   * Never the host's own namespace: its eth0 and routes are not ours. The executor starts this as soon as the
   * holder reports its PID, a moment before it unshares: wait for that, up to a second.
   */
  for (int tries = 0;; tries++) {
    *ns = open(path, O_RDONLY | O_CLOEXEC);
    if (*ns < 0) die("open", path, errno);
    if (fstat(*ns, &node) != 0) die("stat", path, errno);
    if (node.st_ino != host.st_ino || node.st_dev != host.st_dev) break;
    if (tries == 10000) die("not a node's network namespace:", pid_text, EINVAL);
    close(*ns);
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
  }
  /* The process the pidfd names is still alive, so the namespace opened by its PID is its own. */
  if (syscall(SYS_pidfd_send_signal, *pidfd, 0, NULL, 0u) != 0) die("holder gone:", pid_text, errno);
}

/** The pair: the host end on the bridge (up, without IPv6), the peer `eth0` made in the node's namespace. */
static void make_pair(int fd, const char *bridge_name, const char *hostif, int ns) {
  unsigned existing = if_nametoindex(hostif);
  if (existing != 0) {
    struct req d;
    struct ifinfomsg *i = start(&d, RTM_DELLINK, 0, sizeof *i);
    i->ifi_family = AF_UNSPEC;
    i->ifi_index = (int)existing;
    ok_or(talk(fd, &d), ENODEV, "delete", hostif);
  }
  int master = index_of(bridge_name);
  struct req r;
  struct ifinfomsg *i = start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  attr(&r, IFLA_IFNAME, hostif, strlen(hostif) + 1);
  attr(&r, IFLA_MASTER, &master, sizeof master);
  struct rtattr *info = nest(&r, IFLA_LINKINFO);
  attr(&r, IFLA_INFO_KIND, "veth", 5);
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *peer = nest(&r, VETH_INFO_PEER);
  struct ifinfomsg *p = put(&r, sizeof *p);
  p->ifi_family = AF_UNSPEC; /* not up yet: a veth opened before its pair is complete fails (ENOTCONN) */
  attr(&r, IFLA_IFNAME, "eth0", 5);
  attr(&r, IFLA_NET_NS_FD, &ns, sizeof ns);
  nest_end(&r, peer);
  nest_end(&r, data);
  nest_end(&r, info);
  ok_or(talk(fd, &r), 0, "veth", hostif);
  no_ipv6(hostif);
  link_up(fd, index_of(hostif), hostif);
}

static void default_route(int fd, int index, struct in_addr gateway) {
  struct req r;
  struct rtmsg *m = start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *m);
  m->rtm_family = AF_INET;
  m->rtm_table = RT_TABLE_MAIN;
  m->rtm_protocol = RTPROT_BOOT;
  m->rtm_scope = RT_SCOPE_UNIVERSE;
  m->rtm_type = RTN_UNICAST;
  attr(&r, RTA_GATEWAY, &gateway, sizeof gateway);
  attr(&r, RTA_OIF, &index, sizeof index);
  ok_or(talk(fd, &r), EEXIST, "default route via", "eth0");
}

static void veth(char **argv) {
  const char *bridge_name = argv[3], *hostif = argv[4];
  if (strlen(hostif) >= IFNAMSIZ) die("interface name too long:", hostif, EINVAL);
  struct in_addr address = ipv4(argv[5]), gateway = ipv4(argv[7]);
  unsigned char prefix = prefix_of(argv[6]);
  int ns, pidfd;
  open_node(argv[2], &ns, &pidfd);
  int host = netlink();
  make_pair(host, bridge_name, hostif, ns);
  if (setns(pidfd, CLONE_NEWNET) != 0 && (errno != EINVAL || setns(ns, CLONE_NEWNET) != 0))
    die("setns", argv[2], errno); /* a pidfd enters from Linux 5.8 on; before, the namespace file */
  int node = netlink();
  link_up(node, 1, "lo"); /* the loopback device is index 1 in every network namespace */
  int eth0 = index_of("eth0");
  no_ipv6("eth0"); /* the node's /proc/sys/net: this process is in its namespace now */
  link_up(node, eth0, "eth0");
  add_address(node, eth0, address, prefix, "eth0");
  default_route(node, eth0, gateway);
}

static void delete_link(const char *name) {
  unsigned index = if_nametoindex(name);
  if (index == 0) return;
  int fd = netlink();
  struct req r;
  struct ifinfomsg *i = start(&r, RTM_DELLINK, 0, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = (int)index;
  ok_or(talk(fd, &r), ENODEV, "delete", name);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "bridge") == 0) {
    bridge(argv[2], argv[3], argv[4]);
    return 0;
  }
  if (argc == 8 && strcmp(argv[1], "veth") == 0) {
    veth(argv);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "delete") == 0) {
    delete_link(argv[2]);
    return 0;
  }
  fprintf(stderr, "usage: node-net bridge NAME GATEWAY PREFIX\n"
                  "       node-net veth HOLDERPID BRIDGE HOSTIF ADDRESS PREFIX GATEWAY\n"
                  "       node-net delete NAME\n");
  return 125;
}
