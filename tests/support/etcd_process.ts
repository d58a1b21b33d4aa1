/**
 * A real etcd for a test (Debian's `etcd-server`): on loopback ports, with a temporary data
 * directory, stopped and removed by `await using`. {@linkcode EtcdProcess.restart} stops it
 * and starts it again on the same data (leases survive, as in production).
 *
 * @module
 */

import { until } from "./ham_process.ts";
import { freePort } from "./tls_certs.ts";

/** The etcd binary, or null when it is not installed (`.ci/run` installs it). */
export function etcdBinary(): string | null {
  for (const path of ["/usr/bin/etcd", "/usr/local/bin/etcd"]) {
    try {
      Deno.statSync(path);
      return path;
    } catch { /* next */ }
  }
  return null;
}

/** A running etcd. */
export class EtcdProcess implements AsyncDisposable {
  readonly dir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  #child: Deno.ChildProcess;

  private constructor(dir: string, clientPort: number, peerPort: number) {
    this.dir = dir;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.#child = this.#spawn();
  }

  /** Its client URL. */
  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** Starts etcd and waits until it answers. */
  static async start(): Promise<EtcdProcess> {
    const dir = await Deno.makeTempDir({ prefix: "ham-etcd-" });
    const etcd = new EtcdProcess(dir, freePort(), freePort());
    try {
      await etcd.ready();
    } catch (err) {
      await etcd[Symbol.asyncDispose]();
      throw err;
    }
    return etcd;
  }

  #spawn(): Deno.ChildProcess {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return new Deno.Command(etcdBinary() ?? "etcd", {
      args: [
        "--name",
        "test",
        "--data-dir",
        `${this.dir}/data`,
        "--listen-client-urls",
        this.url,
        "--advertise-client-urls",
        this.url,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `test=${peer}`,
        // Faster raft timing than the default (100 ms / 1 s), so that a restart takes
        // under a second here instead of about two: the restart test needs one shorter
        // than the fencing point (0.8 × TTL).
        "--heartbeat-interval",
        "25",
        "--election-timeout",
        "250",
        "--logger",
        "zap",
        "--log-outputs",
        `${this.dir}/etcd.log`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** Waits until etcd answers a range request. */
  ready(ms = 15_000): Promise<void> {
    return until(
      async () => {
        const res = await fetch(`${this.url}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("/") }),
          signal: AbortSignal.timeout(500),
        });
        await res.body?.cancel();
        return res.ok ? true : null;
      },
      `etcd on ${this.url}`,
      ms,
    ).then(() => {});
  }

  /** Its process ID (it changes with {@linkcode EtcdProcess.restart}). */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Freezes etcd (SIGSTOP): its port still accepts connections, and no request is answered,
   * as a host cut off by a dropping firewall looks. {@linkcode EtcdProcess.resume} thaws it.
   */
  pause(): void {
    Deno.kill(this.#child.pid, "SIGSTOP");
  }

  /** Thaws an etcd frozen by {@linkcode EtcdProcess.pause}. */
  resume(): void {
    Deno.kill(this.#child.pid, "SIGCONT");
  }

  /** Stops etcd (SIGTERM) and waits for its exit. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
  }

  /** Kills etcd and starts it again on the same data; resolves when it answers again. */
  async restart(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
    this.#child = this.#spawn();
    await this.ready();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
