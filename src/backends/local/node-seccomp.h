/*
 * The seccomp filter of every process in a node (ADR 0020), shared by node-up.c (the node's PID 1) and
 * enter-node.c (each process started in the node). Hand-written classic BPF:
 * - another architecture than the one built for (on x86-64 also the x32 ABI) kills the process;
 * - EPERM for kexec, module, key, handle, bpf, swap, reboot, acct and mount calls (mount, umount2, pivot_root and
 *   the new mount API), and for unshare and clone asking for a new user namespace (the one way left to get
 *   capabilities over fresh namespaces);
 * - ENOSYS for clone3 (its flags are behind a pointer, out of a filter's reach), so the C library falls back to
 *   clone, which the filter can see;
 * - in a VM's filter (vm_seccomp) mount(2) is a user notification for the host's mount broker (vm-broker.h) and
 *   the new mount API is ENOSYS;
 * - everything else is allowed (the node's namespaces, owned by the host, refuse the rest).
 * Installed while the caller holds CAP_SYS_ADMIN in its user namespace, so no_new_privs is not needed for it.
 * Part of Lazurite; MIT.
 */
#ifndef LAZURITE_NODE_SECCOMP_H
#define LAZURITE_NODE_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NODE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NODE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "node-seccomp.h: no filter for this architecture"
#endif

#define NODE_LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define NODE_RET(value) BPF_STMT(BPF_RET | BPF_K, (value))
/* When the syscall number is `nr`, return `value`; else go on. */
#define NODE_ON(nr, value) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), NODE_RET(value)
#define NODE_EPERM(nr) NODE_ON(nr, SECCOMP_RET_ERRNO | EPERM)

/*
 * The filter's program. `vm` (a VM's filter, vm-broker.h): mount(2) goes to the host's mount broker
 * (SECCOMP_RET_USER_NOTIF) and the new mount API answers ENOSYS, so mount(8) falls back to mount(2); the other
 * mount calls stay EPERM.
 */
#define NODE_MOUNT_CALL(nr, vm, vmvalue) NODE_ON(nr, (vm) ? (vmvalue) : SECCOMP_RET_ERRNO | EPERM)
#define NODE_NEW_MOUNT_API(nr, vm) NODE_MOUNT_CALL(nr, vm, SECCOMP_RET_ERRNO | ENOSYS)

static inline int node_filter(int vm, unsigned int flags) {
  struct sock_filter code[] = {
      NODE_LOAD(arch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NODE_AUDIT_ARCH, 1, 0),
      NODE_RET(SECCOMP_RET_KILL_PROCESS),
      NODE_LOAD(nr),
#if defined(__x86_64__)
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1),
      NODE_RET(SECCOMP_RET_KILL_PROCESS),
#endif
#ifdef __NR_kexec_load
      NODE_EPERM(__NR_kexec_load),
#endif
      NODE_EPERM(__NR_kexec_file_load),
#ifdef __NR_init_module
      NODE_EPERM(__NR_init_module),
#endif
      NODE_EPERM(__NR_finit_module),
      NODE_EPERM(__NR_delete_module),
      NODE_EPERM(__NR_add_key),
      NODE_EPERM(__NR_request_key),
      NODE_EPERM(__NR_keyctl),
      NODE_EPERM(__NR_open_by_handle_at),
      NODE_EPERM(__NR_name_to_handle_at),
      NODE_EPERM(__NR_bpf),
      NODE_EPERM(__NR_swapon),
      NODE_EPERM(__NR_swapoff),
      NODE_EPERM(__NR_reboot),
      NODE_EPERM(__NR_acct),
      /* No mounts at all (the node cannot mount in its host-owned mount namespace anyway: defence in depth). */
      NODE_MOUNT_CALL(__NR_mount, vm, SECCOMP_RET_USER_NOTIF),
      NODE_EPERM(__NR_umount2),
      NODE_EPERM(__NR_pivot_root),
      NODE_NEW_MOUNT_API(__NR_open_tree, vm),
      NODE_NEW_MOUNT_API(__NR_move_mount, vm),
      NODE_NEW_MOUNT_API(__NR_fsopen, vm),
      NODE_NEW_MOUNT_API(__NR_fsconfig, vm),
      NODE_NEW_MOUNT_API(__NR_fsmount, vm),
      NODE_NEW_MOUNT_API(__NR_fspick, vm),
      NODE_NEW_MOUNT_API(__NR_mount_setattr, vm),
      NODE_ON(__NR_clone3, SECCOMP_RET_ERRNO | ENOSYS),
      /* unshare(flags) and clone(flags, ...): the flags are the first argument (its low 32 bits here). */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
      NODE_LOAD(args[0]),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
      NODE_RET(SECCOMP_RET_ERRNO | EPERM),
      NODE_RET(SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/** Installs the node filter on the calling thread (inherited by its children); 0, or -1 with errno. */
static inline int node_seccomp(void) { return node_filter(0, 0); }

/** Installs a VM's filter (mount(2) brokered, vm-broker.h); its notification listener, or -1 with errno. */
static inline int vm_seccomp(void) { return node_filter(1, SECCOMP_FILTER_FLAG_NEW_LISTENER); }

#endif
