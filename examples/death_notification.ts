/**
 * Death notification: fault notification rather than recovery. A server process
 * (examples/workers/self_attached_server.ts) attaches ITSELF to the HAM, as Qt Remote
 * Objects' QNX backend does, with a death condition and a log action on its own entity.
 * Two client processes (examples/workers/death_watcher.ts) subscribe to the HAM's events
 * about the server. The server is killed with SIGKILL; its connection to the HAM closes,
 * the HAM sees the death, and each client prints its notification. Prints a timeline in
 * ms; exits 0 when both clients were told, 1 when they were not.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-run --allow-env --allow-ffi --allow-sys examples/death_notification.ts
 *
 * @module
 */

import { BIN, ExampleHam, REPO } from "./support/example_ham.ts";
import { runScenario, ScenarioError, within } from "./support/scenario.ts";

const SERVER = "server";
const CLIENTS = ["client-1", "client-2"];
/** The permissions of the workers' run lines: the HAM's socket and state directory. */
const WORKER_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];

/** A Deno worker process of this example, whose stdout is read a line at a time. */
class Worker implements AsyncDisposable {
  readonly label: string;
  readonly child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<string>;
  #partial = "";
  #lines: string[] = [];

  constructor(label: string, script: string, args: string[]) {
    this.label = label;
    this.child = new Deno.Command(`${BIN}/deno`, {
      args: ["run", ...WORKER_PERMISSIONS, `${REPO}examples/workers/${script}`, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reader = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line the worker prints that satisfies `pred`, within `ms`. */
  line(pred: (line: string) => boolean, ms: number, what: string): Promise<string> {
    return within(
      (async () => {
        for (;;) {
          while (this.#lines.length > 0) {
            const line = this.#lines.shift()!;
            if (pred(line)) return line;
          }
          const { value, done } = await this.#reader.read();
          if (done) throw new ScenarioError(`${this.label} exited before ${what}`);
          const parts = (this.#partial + value).split("\n");
          this.#partial = parts.pop()!;
          this.#lines.push(...parts);
        }
      })(),
      ms,
      `${this.label}: ${what}`,
    );
  }

  /** Kills the worker if it still runs, and reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#reader.cancel().catch(() => {});
    await this.child.status;
  }
}

if (import.meta.main) {
  await runScenario(
    "death notification: clients told of a self-attached server's death",
    async (tl) => {
      await using h = await ExampleHam.start(tl);
      await using server = new Worker(SERVER, "self_attached_server.ts", [h.stateDir, SERVER]);
      const ready = await server.line((l) => l.startsWith("ready"), 10_000, "its attach-self");
      const serverPid = server.child.pid;
      tl.mark(
        `${SERVER} (pid ${serverPid}) attached itself, with ${SERVER}/death -> log: ${ready}`,
      );
      const view = await h.entity(SERVER);
      tl.check(
        view.type === "ATTACHEDSELF" && view.pid === serverPid,
        `the HAM shows "${SERVER}" as ATTACHEDSELF, pid ${view.pid}`,
      );

      await using stack = new AsyncDisposableStack();
      const clients = CLIENTS.map((name) =>
        stack.use(new Worker(name, "death_watcher.ts", [h.stateDir, SERVER, name]))
      );
      for (const c of clients) {
        await c.line((l) => l === "subscribed", 10_000, "its subscription");
        tl.mark(`${c.label} (pid ${c.child.pid}) subscribed to the events of "${SERVER}"`);
      }

      const since = await h.nextSeq();
      const killedAt = Date.now();
      server.child.kill("SIGKILL");
      tl.mark(`kill -KILL ${serverPid} (${SERVER})`, killedAt);
      for (const c of clients) {
        const note = await c.line((l) => l.includes("notified"), 5_000, "the notification");
        tl.mark(`${c.label} printed: ${note}`);
        tl.check(note.includes(`pid ${serverPid}`), `${c.label} was told of pid ${serverPid}`);
        const st = await within(c.child.status, 5_000, `${c.label} to exit`);
        tl.check(st.code === 0, `${c.label} exited 0`);
      }
      tl.mark(`kill -> both clients told: ${Date.now() - killedAt} ms`);
      await h.ham.wait(SERVER, "detached", { since, timeoutMs: 5_000 });
      const logged = await h.ham.events({ since, entity: SERVER });
      tl.check(
        logged.events.some((e) => e.action === "note" && e.detail?.ok === true),
        `the HAM ran ${SERVER}/death/note and removed the dead self-attached entity`,
      );
      await h.stop();
    },
  );
}
