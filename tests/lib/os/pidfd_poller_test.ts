import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { type Libc, libc } from "../../../lib/os/libc.ts";
import { openPidfd } from "../../../lib/os/pidfd.ts";
import { PidfdPoller } from "../../../lib/os/pidfd_poller.ts";
import { within } from "../../support/within.ts";

interface Item {
  pid: number;
  fd: number;
}

/**
 * A poller whose exits are recorded, and awaited per pid, on the real libc but for a record
 * of the descriptors it opens and closes (test files run in parallel in one process, so the
 * numbers in /proc/self/fd tell nothing).
 */
function recordingPoller() {
  const real = libc();
  const closed: number[] = [];
  const eventfds: number[] = [];
  const lib: Libc = {
    ...real,
    close: (fd) => {
      closed.push(fd);
      return real.close(fd);
    },
    eventfd: (initval, flags) => {
      const fd = real.eventfd(initval, flags);
      eventfds.push(fd);
      return fd;
    },
  };
  const exited: number[] = [];
  /** The descriptors closed when each exit was reported. */
  const closedAtExit: number[][] = [];
  const waiters = new Map<number, () => void>();
  const poller = new PidfdPoller<Item>(lib, (item) => {
    exited.push(item.pid);
    closedAtExit.push([...closed]);
    // The poller's own delete of the item (after this returns) is not a close either.
    queueMicrotask(() => closedAtExit.at(-1)!.push(...closed.slice(closedAtExit.at(-1)!.length)));
    waiters.get(item.pid)?.();
  });
  const exitOf = (pid: number) =>
    exited.includes(pid)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.set(pid, resolve));
  return { poller, exited, exitOf, closed, closedAtExit, eventfds };
}

/** A `/bin/sleep 30` child of Deno, with a pidfd the test hands to a poller. */
function sleeper(): { child: Deno.ChildProcess; item: Item } & AsyncDisposable {
  const child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  return {
    child,
    item: { pid: child.pid, fd: openPidfd(libc(), "watch", child.pid) },
    [Symbol.asyncDispose]: () => child[Symbol.asyncDispose](),
  };
}

Deno.test("PidfdPoller reports an item once its process exits, then closes its pidfd", async () => {
  const { poller, exited, exitOf, closed, closedAtExit } = recordingPoller();
  await using a = sleeper();
  poller.add(a.item);
  a.child.kill("SIGKILL");
  await within(exitOf(a.child.pid), "the exit");
  assert.deepEqual(exited, [a.child.pid]);
  await Promise.resolve();
  // Not in the turn of the report (a death's handling runs in it): before the next poll.
  assert.deepEqual(closedAtExit, [[]]);
  await within(
    (async () => {
      while (!closed.includes(a.item.fd)) await new Promise((r) => setTimeout(r, 1));
    })(),
    "the pidfd closed",
  );
  assert.deepEqual(closed, [a.item.fd]);
  await poller.close();
});

Deno.test("PidfdPoller.add() wakes a poll call that is already waiting", async () => {
  const { poller, exitOf } = recordingPoller();
  await using a = sleeper();
  await using b = sleeper();
  poller.add(a.item);
  await new Promise((resolve) => setTimeout(resolve, 0)); // the poll call starts
  poller.add(b.item);
  b.child.kill("SIGKILL");
  await within(exitOf(b.child.pid), "the second exit", 2000);
  await poller.close();
});

Deno.test("PidfdPoller.delete() stops reporting an item and closes its pidfd", async () => {
  const { poller, exited, exitOf, closed } = recordingPoller();
  await using a = sleeper();
  await using b = sleeper();
  poller.add(a.item);
  poller.add(b.item);
  poller.delete(a.item);
  poller.delete(a.item);
  assert.deepEqual(closed, [a.item.fd]);
  a.child.kill("SIGKILL");
  b.child.kill("SIGKILL");
  await within(exitOf(b.child.pid), "the exit");
  assert.deepEqual(exited, [b.child.pid]);
  await poller.close();
});

Deno.test("PidfdPoller.close() closes every pidfd and its eventfd", async () => {
  const { poller, exited, closed, eventfds } = recordingPoller();
  await using a = sleeper();
  await using b = sleeper();
  poller.add(a.item);
  assert.equal(eventfds.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 0)); // the poll call starts
  poller.add(b.item);
  assert.equal(eventfds.length, 1);
  await within(poller.close(), "close()");
  await poller.close();
  const byNumber = (x: number, y: number) => x - y;
  assert.deepEqual(closed.sort(byNumber), [a.item.fd, b.item.fd, eventfds[0]].sort(byNumber));
  assert.deepEqual(exited, []);
  await using c = sleeper();
  assert.throws(
    () => poller.add(c.item),
    (err) => err instanceof HamError && err.code === "ECANCELED",
  );
  libc().close(c.item.fd);
});

Deno.test("PidfdPoller arms its poll again only once what an exit started has run", async () => {
  const real = libc();
  let polls = 0;
  const lib: Libc = {
    ...real,
    poll: (fds, nfds, timeoutMs) => {
      polls++;
      return real.poll(fds, nfds, timeoutMs);
    },
  };
  let atExit = -1;
  let whenDone = -1;
  const done = Promise.withResolvers<void>();
  const poller = new PidfdPoller<Item>(lib, () => {
    atExit = polls;
    // A death's handling: a chain of promise hops (the watch, the engine, the journal).
    void (async () => {
      for (let i = 0; i < 50; i++) await Promise.resolve();
      whenDone = polls;
      done.resolve();
    })();
  });
  await using a = sleeper();
  await using b = sleeper(); // still polled after a's exit: the poll is armed again
  poller.add(a.item);
  poller.add(b.item);
  await new Promise((resolve) => setTimeout(resolve, 0)); // the poll call starts
  a.child.kill("SIGKILL");
  await within(done.promise, "the exit's handling");
  assert.equal(whenDone, atExit, "no poll call before the exit's handling ran");
  await poller.close();
});
