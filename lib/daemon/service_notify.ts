/**
 * Telling a service manager how the HAM is doing (systemd `Type=notify`): `READY=1` once
 * the control socket accepts, a `STATUS=` line as entities die and restart, `WATCHDOG=1`
 * at half the interval `$WATCHDOG_USEC` asks for, and after a Guardian takeover
 * `MAINPID=<new HAM>` (with `NotifyAccess=all`), so that systemd keeps the service instead
 * of stopping its control group when the process it started dies. `STOPPING=1` on stop.
 *
 * @module
 */

import type { HamDaemon } from "./daemon.ts";
import { SdNotify, watchdogMs } from "../os/sd_notify.ts";

/** What is sent, for tests of the wiring. */
export interface NotifyHandle {
  /** Stops the watchdog and says the HAM is stopping. */
  stop(): void;
}

/** The STATUS text: entities and how many run. */
export function statusLine(daemon: HamDaemon, note?: string): string {
  let entities = 0;
  let running = 0;
  for (const e of daemon.store.state.entities.values()) {
    if (e.kind === "global") continue;
    entities++;
    if (e.pid !== null) running++;
  }
  return `STATUS=${entities} entities, ${running} running${note ? `; ${note}` : ""}`;
}

/**
 * Starts notifying for a serving HAM (`takeover`: it is a Guardian that took over);
 * returns null when no `$NOTIFY_SOCKET` is set.
 */
export function startServiceNotify(daemon: HamDaemon, takeover: boolean): NotifyHandle | null {
  const sd = SdNotify.fromEnv();
  if (sd === null) return null;
  const first = takeover
    ? [`MAINPID=${Deno.pid}`, "READY=1", statusLine(daemon, `took over as HAM ${Deno.pid}`)]
    : ["READY=1", statusLine(daemon)];
  sd.send(...first);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: string | undefined;
  // At most one STATUS a second: a restart storm must not flood the manager.
  const stop = daemon.hub.listen((ev) => {
    if (ev.type !== "death" && ev.type !== "restart" && ev.type !== "remove") return;
    pending = `${ev.type} of ${ev.entity}`;
    timer ??= setTimeout(() => {
      timer = undefined;
      sd.send(statusLine(daemon, `last: ${pending}`));
    }, 1000);
  });
  const interval = watchdogMs();
  const dog = interval === null
    ? undefined
    : setInterval(() => sd.send("WATCHDOG=1"), interval / 2);
  if (interval !== null) sd.send("WATCHDOG=1");
  return {
    stop() {
      stop();
      clearTimeout(timer);
      clearInterval(dog);
      sd.send("STOPPING=1", "STATUS=stopping");
      sd.close();
    },
  };
}
