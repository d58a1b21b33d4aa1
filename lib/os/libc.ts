/**
 * The few libc functions ham calls through Deno's FFI: the pidfd system calls, `poll`,
 * `waitid`, `eventfd`, `prctl`, and the `open`/`read`/`readlink`/`getdents64` calls that
 * read `/proc` (Deno refuses /proc reads to any process without `--allow-all`). `libc.so.6`
 * is opened lazily, once, on the first call of {@linkcode libc}; callers check
 * {@linkcode libcAvailable} first and fall back to portable code when FFI is not permitted
 * or libc cannot be loaded.
 *
 * Every function returns what the C function returns (`-1` on failure); read the cause
 * with {@linkcode errno} right after a failed synchronous call. `poll` and `epoll_wait` are
 * the only nonblocking calls: they run on Deno's blocking thread pool, so their errno is lost.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";

/** The architectures ham runs on (`Deno.build.arch`). */
export type Arch = "x86_64" | "aarch64";

/**
 * System call numbers and `open()` flags per architecture. The pidfd calls are numbered
 * alike everywhere (they came after the numbering was unified); `getdents64` and
 * `O_DIRECTORY` differ between x86-64 and arm64 (the generic table).
 */
export const ARCH_CONSTANTS = {
  x86_64: {
    sys: { pidfd_send_signal: 424, pidfd_open: 434, getdents64: 217 },
    open: {
      O_RDONLY: 0,
      O_RDWR: 2,
      O_NONBLOCK: 0o4000,
      O_DIRECTORY: 0o200000,
      O_CLOEXEC: 0o2000000,
      O_CREAT: 0o100,
      O_EXCL: 0o200,
      O_NOFOLLOW: 0o400000,
    },
  },
  aarch64: {
    sys: { pidfd_send_signal: 424, pidfd_open: 434, getdents64: 61 },
    open: {
      O_RDONLY: 0,
      O_RDWR: 2,
      O_NONBLOCK: 0o4000,
      O_DIRECTORY: 0o40000,
      O_CLOEXEC: 0o2000000,
      O_CREAT: 0o100,
      O_EXCL: 0o200,
      O_NOFOLLOW: 0o100000,
    },
  },
} as const;

/**
 * The constants of `arch`: x86-64 has its own table; arm64 and the other newer
 * architectures (riscv64, loongarch64) share the generic one.
 */
export function archConstants(arch: string): (typeof ARCH_CONSTANTS)[Arch] {
  return arch === "x86_64" ? ARCH_CONSTANTS.x86_64 : ARCH_CONSTANTS.aarch64;
}

const HERE = archConstants(Deno.build.arch);

/** System call numbers of this machine's architecture. */
export const SYS = HERE.sys;

/** `open()` flags of this machine's architecture. */
export const OPEN = HERE.open;

/** `waitid()` id types and options, and the `prctl()` option ham uses. */
export const WAIT = {
  P_ALL: 0,
  P_PID: 1,
  P_PIDFD: 3,
  WNOHANG: 1,
  WEXITED: 4,
  WNOWAIT: 0x01000000,
  PR_SET_CHILD_SUBREAPER: 36,
} as const;

/** `RLIMIT_NOFILE`, the resource of the descriptor limit (the same on x86-64 and arm64). */
export const RLIMIT_NOFILE = 7;
/** `fcntl()` commands and flags ham uses (the same on x86-64 and arm64). */
export const FCNTL = {
  F_GETFD: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
} as const;

/** `getsockopt()`/`setsockopt()` levels and options: a socket's send buffer, the peer credentials of a Unix socket (the same on x86-64 and arm64). */
export const SOCKOPT = {
  SOL_SOCKET: 1,
  SO_SNDBUF: 7,
  SO_PEERCRED: 17,
  SO_PEERGROUPS: 59,
} as const;

/** `mmap()` protections and flags (the same on x86-64 and arm64). */
export const MMAP = { PROT_READ: 1, PROT_WRITE: 2, MAP_SHARED: 1 } as const;

/** The errno values ham tells apart (the same on x86-64 and arm64). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  ECHILD: 10,
  EAGAIN: 11,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ERANGE: 34,
  EPIPE: 32,
  ECONNRESET: 104,
  ECONNABORTED: 103,
  ENOSYS: 38,
  ELOOP: 40,
} as const;

const SYMBOLS = {
  syscall: { parameters: ["i64", "i64", "i64", "i64", "i64"], result: "i64" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "isize"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "isize"], result: "isize" },
  ftruncate: { parameters: ["i32", "isize"], result: "i32" },
  posix_fallocate: { parameters: ["i32", "isize", "isize"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "isize"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  malloc_trim: { parameters: ["usize"], result: "i32" },
  sched_yield: { parameters: [], result: "i32" },
  sched_getscheduler: { parameters: ["i32"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "u64"], result: "i64" },
  // The same variadic syscall(), declared with a pointer as its third argument.
  getdents64: { name: "syscall", parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "u64", "i32", "buffer", "u32"], result: "i64" },
  send: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The typed libc functions ham uses. Numbers in, numbers out; `-1` means failure. */
export interface Libc {
  /** `syscall(nr, a, b, c, d)`: unused trailing arguments are passed as 0. */
  syscall(nr: number, a?: number, b?: number, c?: number, d?: number): number;
  /** `poll(fds, nfds, timeoutMs)` on the thread pool; `fds` must stay untouched until it settles. */
  poll(fds: Uint8Array, nfds: number, timeoutMs: number): Promise<number>;
  /** `prctl(option, arg2, 0, 0, 0)`. */
  prctl(option: number, arg2: number): number;
  /** `waitid(idtype, id, siginfo, options)`; `siginfo` needs 128 bytes. */
  waitid(idtype: number, id: number, siginfo: Uint8Array, options: number): number;
  /** `eventfd(initval, flags)`. */
  eventfd(initval: number, flags: number): number;
  /** `read(fd, buf, buf.length)`. */
  read(fd: number, buf: Uint8Array): number;
  /** `open(path, flags, mode)`; `path` is NUL-terminated (see {@linkcode cString}). */
  open(path: Uint8Array, flags: number, mode?: number): number;
  /** `pread(fd, buf, buf.length, offset)`. */
  pread(fd: number, buf: Uint8Array, offset: number): number;
  /** `pwrite(fd, buf, buf.length, offset)`. */
  pwrite(fd: number, buf: Uint8Array, offset: number): number;
  /** `sched_yield()`. */
  sched_yield(): number;
  /** `sched_getscheduler(pid)`: the scheduling policy (0 for this process's). */
  sched_getscheduler(pid: number): number;
  /** `ftruncate(fd, length)`. */
  ftruncate(fd: number, length: number): number;
  /** `posix_fallocate(fd, offset, length)`: 0, or the error number itself (not -1). */
  posix_fallocate(fd: number, offset: number, length: number): number;
  /** `fchown(fd, uid, gid)`. */
  fchown(fd: number, uid: number, gid: number): number;
  /**
   * `mmap(NULL, length, prot, flags, fd, offset)`: the mapping, or null for `MAP_FAILED`.
   */
  mmap(
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
  ): Deno.PointerObject | null;
  /** `munmap(addr, length)`. */
  munmap(addr: Deno.PointerObject, length: number): number;
  /** `madvise(addr, length, advice)`. */
  madvise(addr: Deno.PointerObject, length: number, advice: number): number;
  /** `malloc_trim(pad)`: 1 when glibc gave memory back to the system, else 0. */
  malloc_trim(pad: number): number;
  /** `readlink(path, buf, buf.length)`: the length of the target, which is not terminated. */
  readlink(path: Uint8Array, buf: Uint8Array): number;
  /** `syscall(SYS_getdents64, fd, buf, buf.length)`: bytes of `linux_dirent64` records. */
  getdents64(fd: number, buf: Uint8Array): number;
  /** `write(fd, buf, buf.length)`. */
  write(fd: number, buf: Uint8Array): number;
  /** `close(fd)`. */
  close(fd: number): number;
  /** `kill(pid, sig)`. */
  kill(pid: number, sig: number): number;
  /** `getrlimit(resource, rlim)`; `rlim` is a `struct rlimit` (two u64: soft, hard). */
  getrlimit(resource: number, rlim: Uint8Array): number;
  /** `setrlimit(resource, rlim)`. */
  setrlimit(resource: number, rlim: Uint8Array): number;
  /** `getsockopt(fd, level, name, value, &length)`: the length is in and out. */
  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint32Array,
  ): number;
  /** `setsockopt(fd, level, name, value, value.length)`. */
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** `fcntl(fd, cmd, arg)` with an integer argument. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `mkfifo(path, mode)`; `path` is NUL-terminated. */
  mkfifo(path: Uint8Array, mode: number): number;
  /** `socket(domain, type, protocol)`. */
  socket(domain: number, type: number, protocol: number): number;
  /** `sendto(fd, buf, buf.length, flags, addr, addr.length)`. */
  sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array): number;
  /** `bind(fd, addr, addr.length)`. */
  bind(fd: number, addr: Uint8Array): number;
  /** `listen(fd, backlog)`. */
  listen(fd: number, backlog: number): number;
  /** `accept4(fd, NULL, NULL, flags)`: the accepted descriptor, without its address. */
  accept4(fd: number, flags: number): number;
  /** `send(fd, buf, buf.length, flags)`. */
  send(fd: number, buf: Uint8Array, flags: number): number;
  /** `epoll_create1(flags)`. */
  epoll_create1(flags: number): number;
  /** `epoll_ctl(epfd, op, fd, event)`; `event` is a `struct epoll_event`. */
  epoll_ctl(epfd: number, op: number, fd: number, event: Uint8Array): number;
  /**
   * `epoll_wait(epfd, events, maxevents, timeoutMs)` on the thread pool; `events` must stay
   * untouched until it settles.
   */
  epoll_wait(
    epfd: number,
    events: Uint8Array,
    maxEvents: number,
    timeoutMs: number,
  ): Promise<number>;
}

let loaded: Libc | null | undefined;
let errnoLocation: (() => Deno.PointerValue) | null = null;

function load(): Libc | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const s = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    errnoLocation = s.__errno_location;
    loaded = {
      syscall: (nr, a = 0, b = 0, c = 0, d = 0) =>
        Number(s.syscall(BigInt(nr), BigInt(a), BigInt(b), BigInt(c), BigInt(d))),
      poll: (fds, nfds, timeoutMs) => s.poll(fds, BigInt(nfds), timeoutMs),
      prctl: (option, arg2) => s.prctl(option, BigInt(arg2), 0n, 0n, 0n),
      waitid: (idtype, id, siginfo, options) => s.waitid(idtype, id, siginfo, options),
      eventfd: (initval, flags) => s.eventfd(initval, flags),
      read: (fd, buf) => Number(s.read(fd, buf, BigInt(buf.length))),
      open: (path, flags, mode = 0) => s.open(path, flags, mode),
      pread: (fd, buf, offset) => Number(s.pread(fd, buf, BigInt(buf.length), BigInt(offset))),
      pwrite: (fd, buf, offset) => Number(s.pwrite(fd, buf, BigInt(buf.length), BigInt(offset))),
      ftruncate: (fd, length) => s.ftruncate(fd, BigInt(length)),
      posix_fallocate: (fd, offset, length) =>
        s.posix_fallocate(fd, BigInt(offset), BigInt(length)),
      fchown: (fd, uid, gid) => s.fchown(fd, uid, gid),
      mmap: (length, prot, flags, fd, offset) => {
        const p = s.mmap(null, BigInt(length), prot, flags, fd, BigInt(offset));
        // MAP_FAILED is (void *) -1.
        return p === null || BigInt(Deno.UnsafePointer.value(p)) === 0xffffffffffffffffn ? null : p;
      },
      munmap: (addr, length) => s.munmap(addr, BigInt(length)),
      madvise: (addr, length, advice) => s.madvise(addr, BigInt(length), advice),
      malloc_trim: (pad) => s.malloc_trim(BigInt(pad)),
      sched_yield: () => s.sched_yield(),
      sched_getscheduler: (pid) => s.sched_getscheduler(pid),
      readlink: (path, buf) => Number(s.readlink(path, buf, BigInt(buf.length))),
      getdents64: (fd, buf) =>
        Number(s.getdents64(BigInt(SYS.getdents64), BigInt(fd), buf, BigInt(buf.length))),
      write: (fd, buf) => Number(s.write(fd, buf, BigInt(buf.length))),
      close: (fd) => s.close(fd),
      kill: (pid, sig) => s.kill(pid, sig),
      getrlimit: (resource, rlim) => s.getrlimit(resource, rlim),
      setrlimit: (resource, rlim) => s.setrlimit(resource, rlim),
      getsockopt: (fd, level, name, value, length) =>
        s.getsockopt(fd, level, name, value, new Uint8Array(length.buffer)),
      setsockopt: (fd, level, name, value) => s.setsockopt(fd, level, name, value, value.length),
      fcntl: (fd, cmd, arg) => s.fcntl(fd, cmd, arg),
      mkfifo: (path, mode) => s.mkfifo(path, mode),
      socket: (domain, type, protocol) => s.socket(domain, type, protocol),
      sendto: (fd, buf, flags, addr) =>
        Number(s.sendto(fd, buf, BigInt(buf.length), flags, addr, addr.length)),
      bind: (fd, addr) => s.bind(fd, addr, addr.length),
      listen: (fd, backlog) => s.listen(fd, backlog),
      accept4: (fd, flags) => s.accept4(fd, null, null, flags),
      send: (fd, buf, flags) => Number(s.send(fd, buf, BigInt(buf.length), flags)),
      epoll_create1: (flags) => s.epoll_create1(flags),
      epoll_ctl: (epfd, op, fd, event) => s.epoll_ctl(epfd, op, fd, event),
      epoll_wait: (epfd, events, maxEvents, timeoutMs) =>
        s.epoll_wait(epfd, events, maxEvents, timeoutMs),
    };
  } catch {
    loaded = null;
  }
  return loaded;
}

/** `text` as a NUL-terminated UTF-8 string, for the path arguments of libc calls. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/** True when libc can be called: FFI is permitted and `libc.so.6` loads. */
export function libcAvailable(): boolean {
  return load() !== null;
}

/**
 * The libc bindings, loaded on first use.
 *
 * @throws {HamError} `EPERM` when FFI is not permitted or libc cannot be loaded.
 */
export function libc(): Libc {
  const lib = load();
  if (lib === null) {
    throw new HamError("EPERM", "Cannot load libc.so.6: FFI is not permitted or not available");
  }
  return lib;
}

/**
 * The errno of the last failed synchronous libc call made by this thread (0 if unknown).
 * Read it right after the failed call: errno is thread-local, so it says nothing about a
 * nonblocking call, which ran on another thread.
 */
export function errno(): number {
  const location = errnoLocation?.() ?? null;
  return location === null ? 0 : new Deno.UnsafePointerView(location).getInt32(0);
}
