"""Runs inside the sandbox child, before the untrusted program: locks the process down, then runs the program.

Started by harness/sandbox/core.py as
`python -I -S -B -X utf8 boot.py [--require=L,...] [--status-fd=N] [--tmpfs=BYTES,FILES] [--uid=N] [--tasks=N]
[--shared=DIR] [--read=DIR ...] PROG` (Python), or `... --exec=WORKDIR /abs/command ARG...` (the command mode:
the same layers, then the command exec'd in place of step 4).
--shared=DIR: a folder writable besides the work directory, at its own path (kept in the masks, allowed in
Landlock), with umask 0 so that the other sandbox of a pair, under another uid, can use what this one makes.
--read=DIR: one more read-only root (a command's runtime).
A standalone stdlib-only script on purpose: with `-I` the harness package is not on sys.path, and nothing the
harness imports (or its environment) should be reachable from the child.

Steps, in order, all in the process that will run the program:
  0. pid-namespace init (only when we are pid 1), with the mount namespace's privileges: a tmpfs of BYTES and
     FILES inodes over the program's directory (--tmpfs), the shared writable folders masked read-only, folders
     only root may pass masked with the interpreter's directories bound back (--uid); then the uid dropped to N
     (--uid: no groups, no capabilities; without namespaces the worker drops it, the work directory handed over);
     then fork: this process waits for the worker and reports its exit status on --status-fd. A pid-1 process
     ignores default-action signals (SIGXCPU at the CPU limit among them), and when init exits the kernel kills
     everything left in the namespace.
  0b. RLIMIT_NPROC = --tasks (the uid or user namespace is the sandbox's own, so it counts the sandbox alone).
  1. no_new_privs, and every capability dropped (root in the sandbox is then an ordinary uid 0 without privileges).
  2. Landlock (`landlock` in --require): writes only beneath the program's directory, reads only beneath the
     Python stdlib, system library directories, /proc and a few /etc and /dev files, no execve anywhere,
     no TCP bind/connect (ABI >= 4), no signals or abstract unix sockets outside the sandbox (ABI >= 6).
  3. seccomp (`seccomp` in --require), via libseccomp: no fork/vfork/clone of processes (threads are fine),
     clone3 says ENOSYS so glibc falls back to clone for threads, no execve/execveat, no socket() of any family
     (socketpair stays), no chmod/chown/xattr changes, no signals/priority/limit changes aimed at other
     processes, no memory the address-space limit does not count (SysV shm/msg, POSIX mqueues, memfd), and none
     of the kernel-administration calls (mount, ptrace, bpf, io_uring, modules, reboot, ...).
  4. runpy the program as __main__: exit 0 when it returns, 1 with its traceback on an exception, MEMORY_EXIT with
     MEMORY_MARK on MemoryError. Command mode: execve(command) instead; Landlock lets only that file (and the
     dynamic loader) be executed, and seccomp allows execve only with boot's own path buffer as its argument, so
     the command itself can exec nothing (its memory holds no such buffer), and it creates no processes either.
A required layer that cannot be applied ends the child with LAYER_EXIT and a `sandbox: ...` line on stderr, so a
silently weaker sandbox is impossible; the parent reports it as status "error".
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # mypy reads this name as True; `typing` is not imported into every sandboxed program
if TYPE_CHECKING:
    import ctypes

LAYER_EXIT = 70  # EX_SOFTWARE: a required containment layer could not be applied
LAYER_MARK = "sandbox: "
MEMORY_EXIT = 3
MEMORY_MARK = "sandbox: MemoryError"

# ------------------------------------------------------------------------------------------------ landlock
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_CHAR = 1 << 6
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_MAKE_SOCK = 1 << 9
_FS_MAKE_FIFO = 1 << 10
_FS_MAKE_BLOCK = 1 << 11
_FS_MAKE_SYM = 1 << 12
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV  # the only ones a file rule may hold

# Read-only roots besides the stdlib (sys.path) and the directories of already-mapped libraries. Missing ones are
# skipped. Deliberately not /etc, /home, /root, /tmp or the repository: secrets, the data (answers) and results.
_READ_ROOTS = (
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/proc", "/sys/devices/system/cpu",
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/timezone", "/etc/nsswitch.conf", "/etc/passwd",
    "/etc/group", "/etc/hosts", "/etc/os-release", "/etc/mime.types", "/etc/services", "/etc/protocols",
)
_WRITE_DEVICES = ("/dev/null", "/dev/full", "/dev/zero")  # harmless sinks some code opens for writing

# ------------------------------------------------------------------------------------------------ seccomp
_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_NE = 1
_SCMP_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000
_EPERM, _ENOSYS = 1, 38

_DENIED_SYSCALLS = (  # EPERM, whatever the arguments
    "fork", "vfork", "execve", "execveat", "socket",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "tkill", "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount",
    "fsconfig", "fspick", "open_tree", "move_mount", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "mknod", "mknodat", "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl",
    "ioperm", "lookup_dcookie", "vhangup", "fanotify_init", "nfsservctl", "uselib", "migrate_pages",
    "move_pages", "process_madvise", "process_mrelease",
    # memory that RLIMIT_AS does not count (it is not mapped until attached, or never): SysV shared memory and
    # message queues, POSIX message queues, memfd. /dev/shm is out of reach too (Landlock, or masked).
    "shmget", "shmat", "shmctl", "msgget", "msgsnd", "semget", "mq_open", "memfd_create", "memfd_secret",
    # Landlock does not cover metadata: without these, uid 0 could chmod/chown/xattr any root-owned file it can
    # name (`chmod 4777 /usr/bin/python3`). Timestamps (utime) stay allowed; they are harmless.
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "setxattr", "lsetxattr",
    "fsetxattr", "setxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
)
# EPERM unless argument N equals the value: only the sandboxed process itself may be aimed at (0 means "self").
_SELF_ONLY = (
    ("kill", 0, "pid"), ("tgkill", 0, "pid"), ("rt_sigqueueinfo", 0, "pid"), ("rt_tgsigqueueinfo", 0, "pid"),
    ("prlimit64", 0, 0), ("setpriority", 1, 0), ("sched_setaffinity", 0, 0), ("sched_setscheduler", 0, 0),
    ("sched_setparam", 0, 0), ("sched_setattr", 0, 0), ("ioprio_set", 1, 0),
)


class LayerError(Exception):
    """A required layer could not be applied; the message says which and why."""


def _libc() -> ctypes.CDLL:
    """The C library, errno kept; ctypes is imported here, in the child, not when the harness imports this module."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _no_new_privs() -> None:
    """Needed for unprivileged Landlock/seccomp, and makes any later privilege gain through exec impossible."""
    import ctypes

    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise LayerError(f"privileges: prctl(NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})")


def _drop_capabilities() -> None:
    """Root keeps uid 0 inside the sandbox (no other uid can run the interpreter under /root); without
    capabilities it cannot mount, load modules, bypass file permissions of other users, kill others' processes,
    change the clock or reboot. Bounding set first (needs CAP_SETPCAP), then effective/permitted/inheritable."""
    import ctypes

    libc = _libc()
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; EPERM without CAP_SETPCAP, harmless under no_new_privs
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise LayerError(f"privileges: capset failed ({os.strerror(ctypes.get_errno())})")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    libc = _libc()
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(abi))


def _mapped_dirs() -> set[str]:
    """Directories of the shared objects this interpreter has loaded, wherever the build put them."""
    dirs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    dirs.add(os.path.dirname(parts[5].strip()))
    except OSError:
        pass
    return dirs


def _loaders() -> set:
    """The dynamic loader(s) this interpreter runs under: the kernel opens the executable's loader for execution
    too, so the command mode needs it beside the executable (on the same system, the same loader)."""
    return {d for d in _mapped_files() if os.path.basename(d).startswith("ld-")}


def _mapped_files() -> set:
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    found.add(parts[5].strip())
    except OSError:
        pass
    return found


def _read_roots() -> set:
    """What the program may read: the stdlib (sys.path), loaded libraries' directories, _READ_ROOTS."""
    return {p for p in sys.path if p and os.path.exists(p)} | _mapped_dirs() | set(_READ_ROOTS)


def apply_landlock(workdir: str, shared: str | None = None, reads: tuple = (), executable: str | None = None) -> None:
    """Write (and everything else) beneath workdir (and `shared`, the folder a cooperating sandbox sees too);
    read-only beneath the roots the interpreter needs; no exec, no TCP, no signals out of the sandbox.
    Already-open descriptors (stdin/stdout/stderr pipes) keep working. `reads`: more read-only roots (a command's
    runtime, its libraries); `executable`: the one file (with the dynamic loader) that may be executed, once, by
    the command mode (seccomp pins execve to that one call)."""
    import ctypes

    libc = _libc()
    abi = landlock_abi()
    if abi < 1:
        raise LayerError("landlock unavailable (kernel without Landlock, or disabled at boot)")
    write = (_FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE_CHAR | _FS_MAKE_DIR | _FS_MAKE_REG
             | _FS_MAKE_SOCK | _FS_MAKE_FIFO | _FS_MAKE_BLOCK | _FS_MAKE_SYM)
    if abi >= 2:
        write |= _FS_REFER
    if abi >= 3:
        write |= _FS_TRUNCATE
    if abi >= 5:
        write |= _FS_IOCTL_DEV
    read = _FS_READ_FILE | _FS_READ_DIR
    handled_fs = write | read | _FS_EXECUTE
    handled_net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled_fs, handled_net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24  # older kernels reject fields they do not know
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise LayerError(f"landlock unavailable (create_ruleset: {os.strerror(ctypes.get_errno())})")

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # absent here: nothing to allow
        try:
            if not os.path.isdir(path):
                rights &= _FILE_RIGHTS
            rule = PathBeneath(rights & handled_fs, fd)
            if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                            ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                raise LayerError(f"landlock unavailable (add_rule {path}: {os.strerror(ctypes.get_errno())})")
        finally:
            os.close(fd)

    try:
        for path in sorted(_read_roots() | set(reads)):
            allow(path, read)
        if executable is not None:
            for path in (executable, *_loaders()):
                allow(path, _FS_READ_FILE | _FS_EXECUTE)
        for path in _WRITE_DEVICES:
            allow(path, read | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
        allow(workdir, write | read)
        if shared is not None:
            allow(shared, write | read)
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise LayerError(f"landlock unavailable (restrict_self: {os.strerror(ctypes.get_errno())})")
    finally:
        os.close(ruleset)


def apply_seccomp(exec_pointer: int | None = None) -> None:
    """Default allow, EPERM for the calls in _DENIED_SYSCALLS / _SELF_ONLY and for process-creating clone,
    ENOSYS for clone3 (its flags live in memory a filter cannot read; glibc then uses clone for threads).
    `exec_pointer`: execve is allowed only with that exact path pointer (boot's own buffer, used for the command
    mode's single exec): the filter survives the exec, and the new program's memory has no such buffer."""
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as e:
        raise LayerError(f"seccomp unavailable (libseccomp.so.2: {e})") from None

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]

    def errno_action(err: int) -> int:
        return 0x00050000 | (err & 0xFFFF)  # SCMP_ACT_ERRNO

    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise LayerError("seccomp unavailable (seccomp_init failed)")

    def rule(name: str, action: int, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a system call on this architecture
        arr = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise LayerError(f"seccomp unavailable (rule for {name}: {os.strerror(-rc)})")

    try:
        me = os.getpid()
        for name in _DENIED_SYSCALLS:
            if name == "execve" and exec_pointer is not None:
                rule(name, errno_action(_EPERM), (0, _SCMP_CMP_NE, exec_pointer, 0))
            else:
                rule(name, errno_action(_EPERM))
        rule("clone", errno_action(_EPERM), (0, _SCMP_CMP_MASKED_EQ, _CLONE_THREAD, 0))
        rule("clone3", errno_action(_ENOSYS))
        for name, arg, value in _SELF_ONLY:
            rule(name, errno_action(_EPERM), (arg, _SCMP_CMP_NE, me if value == "pid" else int(value), 0))
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise LayerError(f"seccomp unavailable (seccomp_load: {os.strerror(-rc)})")
    finally:
        lib.seccomp_release(ctx)


# ------------------------------------------------------------------------------------------------ limits, user
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC = 1, 2, 4, 8, 32, 4096, 16384
# world-writable places a non-root program could fill or leave files in; masked read-only and empty (the work
# directory, when it lies beneath one, is put back). Landlock keeps them out of reach too, where it works.
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/shm", "/dev/mqueue", "/run/lock", "/var/lock")


def _mount(source, target: str, fstype, flags: int, data) -> None:
    import ctypes

    libc = _libc()

    def enc(x):
        return x.encode() if isinstance(x, str) else x

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        raise LayerError(f"limits: mount {target} failed ({os.strerror(ctypes.get_errno())})")


def work_tmpfs(workdir: str, size: int, files: int, uid) -> None:
    """A fresh tmpfs of `size` bytes and `files` inodes over the work directory, in this mount namespace only: disk
    use is bounded, and whatever the program leaves there (a 2,500-deep tree, 20,000 files) is gone with the
    namespace. The files the harness put there (the program, or a command's inputs) are carried over."""
    carried = {}
    for name in sorted(os.listdir(workdir)):
        path = os.path.join(workdir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                carried[name] = f.read()
    extra = sum(len(data) for data in carried.values()) + 65536
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _mount("tmpfs", workdir, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={size + extra},nr_inodes={files + len(carried) + 1},mode=0700{owner}")
    for name, data in carried.items():
        fd = os.open(os.path.join(workdir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if uid is not None:
                os.fchown(fd, uid, uid)
        finally:
            os.close(fd)
    os.chdir(workdir)  # the old cwd is the directory under the mount


def _beneath(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _unreachable_from(path: str):
    """The outermost ancestor of `path` that a uid other than its owner cannot pass through (no o+x), or None."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        try:
            if not os.stat(ancestor).st_mode & 0o001:
                return ancestor
        except OSError:
            return None
    return None


def _mask(target: str, keep: list, writable: set) -> None:
    """An empty read-only tmpfs over `target`, with the paths in `keep` (beneath it) bound back in place, read-only
    but for those in `writable` (the work directory, the shared folder)."""
    keep = sorted({k for k in keep if os.path.exists(k)})
    keep = [k for k in keep if not any(k != o and _beneath(k, o) for o in keep)]  # outermost only
    fds = [os.open(k, os.O_PATH | os.O_CLOEXEC) for k in keep]  # before the mount hides them
    try:
        _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=65536,nr_inodes=4096,mode=0755")
        for k, fd in zip(keep, fds):
            os.makedirs(os.path.dirname(k), mode=0o755, exist_ok=True)  # in the new tmpfs: nothing kept is above
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(k, 0o755)
            else:
                os.close(os.open(k, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            _mount(f"/proc/self/fd/{fd}", k, None, _MS_BIND | _MS_REC, None)
            if k not in writable:
                _mount(None, k, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)
        _mount(None, target, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    finally:
        for fd in fds:
            os.close(fd)


def mask_paths(workdir: str, uid, shared: str | None = None, reads: list | None = None) -> None:
    """In this mount namespace: the shared writable directories masked (the work directory and `shared` kept), and where
    the program will run under another uid (`uid`), every directory it must read made reachable: a folder
    on the way that only its owner may pass (/root, where pyenv and uv keep Python) is masked with just those
    roots bound back, so the rest of it (keys, tokens, caches) stays out of sight."""
    writable = {workdir} | ({shared} if shared is not None else set())
    roots = {os.path.realpath(r) for r in _read_roots() | set(reads or ())} | writable
    targets = {}
    for d in _SHARED_WRITABLE:
        if os.path.isdir(d) and not os.path.islink(d):
            d = os.path.realpath(d)
            targets[d] = [r for r in roots if _beneath(r, d)]  # the work directory; an interpreter kept in /tmp
    if uid is not None:
        for root in roots:
            blocked = _unreachable_from(root)
            if blocked is not None:
                targets.setdefault(blocked, []).append(root)
    for target in targets:
        if any(t != target and _beneath(target, t) for t in targets):
            continue  # masked with the folder around it, which keeps what this one keeps
        nested = [t for t in targets if t != target and _beneath(t, target)]
        keep = targets[target] + [k for t in nested for k in targets[t]]
        _mask(target, keep, writable)


def drop_user(uid: int) -> None:
    """Root's rights gone for good: no supplementary groups, every uid and gid `uid` (capabilities go with it)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise LayerError(f"limits: could not become uid {uid}")


def limit_tasks(n: int) -> None:
    """RLIMIT_NPROC: processes and threads (raw clone(CLONE_THREAD) included) of this uid in this user namespace,
    which the harness makes the sandbox's alone: its own uid (dropped from root) or its own user namespace."""
    import resource

    resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


# ------------------------------------------------------------------------------------------------ running
def _init(worker: int, status_fd: int | None) -> None:
    """pid 1 of the namespace: wait for the worker, hand its status to the parent, exit (which kills the rest)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(LAYER_EXIT)
        except InterruptedError:
            continue
        if pid == worker:
            break
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        line, code = f"signal {os.WTERMSIG(status)} {cpu:.3f}\n", 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
        line = f"exit {code} {cpu:.3f}\n"
    if status_fd is not None:
        try:
            os.write(status_fd, line.encode())
        except OSError:
            pass
    os._exit(code)


def _print_program_traceback(exc: BaseException, program: str) -> None:
    """The traceback as `python main.py` would print it: from the program's first frame, not boot's or runpy's."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != program:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)  # tb None (a SyntaxError in the program): just the error


def _run(program: str) -> None:
    import runpy

    sys.argv = [program]
    sys.path.insert(0, os.path.dirname(program))  # as `python main.py` would: the program may import its siblings
    try:
        runpy.run_path(program, run_name="__main__")
    except SystemExit:
        raise
    except MemoryError as e:
        try:
            _print_program_traceback(e, program)
        except BaseException:
            pass
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        os.write(2, f"\n{MEMORY_MARK}\n".encode())
        os._exit(MEMORY_EXIT)
    except BaseException as e:  # KeyboardInterrupt too: any uncaught exception is a failed run
        _print_program_traceback(e, program)
        sys.exit(1)


def _prepare_exec(argv: list) -> tuple:
    """The C arrays for execve, made before seccomp so the filter can pin execve to this path buffer."""
    import ctypes

    path = ctypes.create_string_buffer(argv[0].encode())
    args = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    env = [f"{k}={v}".encode() for k, v in os.environ.items()]
    envp = (ctypes.c_char_p * (len(env) + 1))(*env, None)
    return path, args, envp


def _address(buffer) -> int:
    import ctypes

    return ctypes.addressof(buffer)


def _exec(prepared: tuple) -> None:
    """Replace this process with the command (every layer stays: no_new_privs, Landlock, seccomp, limits)."""
    import ctypes

    path, args, envp = prepared
    sys.stdout.flush()
    sys.stderr.flush()
    _libc().execve(path, args, envp)
    sys.stderr.write(f"{LAYER_MARK}could not exec {path.value.decode()!r} ({os.strerror(ctypes.get_errno())})\n")
    sys.stderr.flush()
    os._exit(LAYER_EXIT)


def main(argv: list[str]) -> None:
    required: set[str] = set()
    status_fd: int | None = None
    tmpfs: tuple[int, int] | None = None
    uid: int | None = None
    tasks: int | None = None
    shared: str | None = None
    workdir: str | None = None  # --exec=WORKDIR: the command mode, the arguments are the command
    reads: list[str] = []
    args = list(argv)
    try:
        while args and args[0].startswith("--"):
            opt, _, value = args.pop(0).partition("=")
            if opt == "--require":
                required = {x for x in value.split(",") if x}
            elif opt == "--status-fd":
                status_fd = int(value)
            elif opt == "--tmpfs":
                size, files = value.split(",")
                tmpfs = (int(size), int(files))
            elif opt == "--uid":
                uid = int(value)
            elif opt == "--tasks":
                tasks = int(value)
            elif opt == "--shared":
                shared = os.path.abspath(value)
            elif opt == "--read":
                reads.append(os.path.abspath(value))
            elif opt == "--exec":
                workdir = os.path.abspath(value)
            else:
                raise ValueError(opt)
    except ValueError as e:
        args = [f"bad option {e}"]
    if (args[:1] or ["bad option"])[0].startswith("bad option") or (workdir is None and len(args) != 1) or (
            workdir is not None and not os.path.isabs(args[0])):
        sys.stderr.write(f"{LAYER_MARK}usage: boot.py [--require=L,...] [--status-fd=N] [--tmpfs=BYTES,FILES] "
                         f"[--uid=N] [--tasks=N] [--shared=DIR] [--read=DIR ...] PROGRAM | --exec=WORKDIR /ABS/CMD "
                         f"ARG...\n")
        os._exit(LAYER_EXIT)
    program = os.path.abspath(args[0])
    exec_mode = workdir is not None
    if workdir is None:
        workdir = os.path.dirname(program)
    unknown = required - {"landlock", "seccomp"}
    if unknown:
        sys.stderr.write(f"{LAYER_MARK}unknown layers required: {sorted(unknown)}\n")
        os._exit(LAYER_EXIT)

    try:
        if os.getpid() == 1:
            if tmpfs is not None:  # needs this mount namespace's privileges: before the uid goes
                work_tmpfs(workdir, *tmpfs, uid)
                mask_paths(workdir, uid, shared, reads)
            if uid is not None:  # init too: nothing in the namespace keeps root's rights
                drop_user(uid)
            worker = os.fork()
            if worker:
                _init(worker, status_fd)
        elif uid is not None:  # no namespaces: the work directory is the host's, handed to the uid
            os.chown(workdir, uid, uid)
            for name in os.listdir(workdir):
                os.chown(os.path.join(workdir, name), uid, uid)
            drop_user(uid)
        if status_fd is not None:
            os.close(status_fd)  # the untrusted program must not be able to forge its status
        if tasks is not None:
            limit_tasks(tasks)
        if sys.platform.startswith("linux"):
            _no_new_privs()
            _drop_capabilities()
        if shared is not None:
            os.umask(0)  # the other sandbox of the pair runs under another uid: what one makes, both may use
        prepared = _prepare_exec(args) if exec_mode else None
        if "landlock" in required:
            apply_landlock(workdir, shared, tuple(reads), args[0] if exec_mode else None)
        if "seccomp" in required:
            apply_seccomp(_address(prepared[0]) if prepared else None)
    except LayerError as e:
        sys.stderr.write(f"{LAYER_MARK}{e}\n")
        sys.stderr.flush()
        os._exit(LAYER_EXIT)
    except Exception as e:  # a bug or an odd platform: still never run the program under weaker layers
        sys.stderr.write(f"{LAYER_MARK}layers failed ({type(e).__name__}: {e})\n")
        sys.stderr.flush()
        os._exit(LAYER_EXIT)
    if prepared is not None:
        _exec(prepared)
    _run(program)


if __name__ == "__main__":
    main(sys.argv[1:])
