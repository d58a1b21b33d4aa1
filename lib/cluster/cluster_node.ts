/**
 * One node of a ham cluster kept in etcd (`ham --cluster URL --node-name NAME`).
 *
 * - **Membership**: the node holds one lease (TTL `--cluster-ttl`, default 2 s), renewed
 *   ten times per TTL, and registers `/ham/nodes/NAME` under it: live nodes are the keys
 *   that exist. The lease ID is kept in `<state-dir>/cluster.json`, so a Guardian taking
 *   over renews the same lease and keeps what the node holds (a takeover is not a failover).
 * - **Definitions**: `/ham/entities/NAME` holds each cluster entity's definition
 *   (`cluster_spec.ts`), written through any member.
 * - **Election**: `/ham/owner/NAME` names the node that runs the entity, under that node's
 *   lease, created by a transaction that succeeds only when the key does not exist. When it
 *   is free, the live eligible nodes compete in order of preference: the one ranked `r`
 *   waits `r × 2` ticks first. The winner places the entity in its local HAM (event
 *   `placed`; `failover` too when another node held it before).
 * - **Fencing**: a holder that has not renewed its lease for 0.8 × TTL withdraws its copies
 *   (event `fenced`) before etcd can end the lease and another node start one; a node whose
 *   lease ended, or that finds another owner, does the same.
 *
 * The node touches its HAM only through {@linkcode ClusterHost}.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import type { Request } from "../core/protocol.ts";
import { writeFileAtomic } from "../store/durable.ts";
import { DEFAULTS } from "../core/defaults.ts";
import {
  type ClusterAttach,
  type ClusterSpec,
  type EditRequest,
  parseSpec,
  withEdit,
} from "./cluster_spec.ts";
import { EtcdClient, EtcdUnavailable, type KeyValue } from "./etcd_client.ts";
import { renewalAge, RenewalStamps } from "./renewal_stamp.ts";

/** Options of `ham --cluster`. */
export interface ClusterOptions {
  /** etcd's client URL, `http://HOST:PORT`. */
  endpoint: string;
  /** This node's name. */
  nodeName: string;
  /** The lease TTL in ms (whole seconds, at least 2 s). */
  ttlMs: number;
  /**
   * Where this node's HAM serves mutual TLS (`ham --listen HOST:PORT`), published in the
   * registry so that the other members can reach it by name. @default {not published}
   */
  address?: string;
}

/** What the cluster node needs of its HAM (`lib/daemon/cluster_host.ts`). */
export interface ClusterHost {
  /** True when the local HAM has an entity of that name. */
  hasEntity(name: string): boolean;
  /** True when the local HAM's entity of that name has a process. */
  isRunning(name: string): boolean;
  /** Creates the entity from its definition and starts it. */
  place(spec: ClusterSpec): Promise<void>;
  /**
   * Applies edits made since it was placed (the node passes one at a time); throws what the
   * local HAM refuses (a {@linkcode HamError}).
   */
  edit(name: string, edits: EditRequest[]): Promise<void>;
  /** Stops the local copy at once (SIGKILL first) and removes the entity; no condition fires. */
  withdraw(name: string): Promise<void>;
  /** Stops monitoring the entity (`detach`: it was undeclared). */
  detach(name: string): Promise<void>;
  /** An event in the HAM's durable stream. */
  publish(type: string, entity: string, detail: Record<string, unknown>): void;
  log(level: "error" | "warn" | "info" | "debug", message: string): void;
}

/** Where one cluster entity runs, as `status` shows it. */
export interface ClusterEntityView {
  name: string;
  /** The node holding it, or null while none does. */
  node: string | null;
  placement: string[];
}

/** The cluster as this node last saw it. */
export interface ClusterView {
  node: string;
  nodes: string[];
  entities: ClusterEntityView[];
  /**
   * Since when (ISO 8601) etcd has not answered this node, whose view is then as it last
   * saw it; null while etcd answers.
   */
  unreachableSince: string | null;
}

interface Persisted {
  node: string;
  lease: string;
  /**
   * Held entities: how many of their edits were applied, and the definition's identity (the
   * `create_revision` of its key). A bare number (an older file) is the edits applied.
   */
  held: Record<string, number | Held>;
}

/**
 * A held copy: the definition it runs (`rev`: "" when unknown), its edits applied, and whether
 * its HAM finished placing it (false while it does: a HAM that took over from one that died
 * meanwhile places it again; absent in an older file: placed).
 */
interface Held {
  applied: number;
  rev: string;
  placed?: boolean;
}

/** The key prefix of everything ham keeps in etcd. */
const CLUSTER_PREFIX = "/ham/";
const NODES = `${CLUSTER_PREFIX}nodes/`;
const ENTITIES = `${CLUSTER_PREFIX}entities/`;
const OWNERS = `${CLUSTER_PREFIX}owner/`;

/** Where a node keeps its lease and what it holds: `<state-dir>/cluster.json`. */
export function clusterFile(stateDir: string): string {
  return `${stateDir}/cluster.json`;
}

/**
 * Refuses to run a HAM without `--cluster` on a state directory whose local entities
 * include cluster entities this node held (by `cluster.json`): resuming them from the
 * journal would run a copy that no lease covers, beside the one another node runs.
 *
 * @throws {HamError} EINVAL naming the entities, the node and the `--cluster` option.
 */
export function refuseUnclustered(stateDir: string, localNames: Iterable<string>): void {
  const file = clusterFile(stateDir);
  let saved: Persisted;
  try {
    saved = JSON.parse(Deno.readTextFileSync(file));
  } catch {
    return; // Never clustered (or nothing readable that it held).
  }
  const local = new Set(localNames);
  const held = Object.keys(saved?.held ?? {}).filter((name) => local.has(name));
  if (held.length === 0) return;
  const names = held.map((n) => `"${n}"`).join(", ");
  throw new HamError(
    "EINVAL",
    `Cannot start without --cluster: this state directory holds cluster entities of node ` +
      `"${saved.node}" (${names}), which only a cluster member may run; start ham with ` +
      `--cluster URL --node-name ${saved.node}, or remove "${file}" to keep them as local entities`,
  );
}

/** What {@linkcode ClusterNode.edit} returns for a name that is not a cluster entity. */
export const NOT_DECLARED: unique symbol = Symbol("not declared");

/** This node's membership, elections and fencing. */
export class ClusterNode {
  readonly name: string;
  readonly ttlMs: number;
  #etcd: EtcdClient;
  #host: ClusterHost;
  #file: string;
  #stateDir: string;
  /** When the lease was last renewed, for the HAM that comes next on the state directory. */
  #stamps: RenewalStamps;
  #tickMs: number;
  #lease: string | null = null;
  /**
   * A lease this node gave up when it fenced, once its copies are ended: revoked as soon as
   * etcd answers, because it may still hold their owner keys (etcd renews every lease when it
   * restarts), which would keep every node from starting them for up to a TTL.
   */
  #abandoned: string | null = null;
  /** `performance.now()` when the last renewal that succeeded was sent. */
  #renewedAt = -Infinity;
  /** Held entities (placed here under the current lease) → edits applied. */
  #held = new Map<string, Held>();
  #lastOwner = new Map<string, string>();
  /** Local entities (not cluster copies) named like a cluster entity, already logged. */
  #clashes = new Set<string>();
  #freeSince = new Map<string, number>();
  /** Entities this node failed to place → when it last failed, and how many times in a row. */
  #failed = new Map<string, { at: number; count: number }>();
  /** The last error syncing each entity, logged once until it changes or the sync succeeds. */
  #syncErrors = new Map<string, string>();
  #view: ClusterView;
  #specs = new Map<string, ClusterSpec>();
  /** The `--listen` address each live node published, as last seen. */
  #addresses = new Map<string, string>();
  #address: string | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #fenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The renewals, one at a time. */
  #running: Promise<void> = Promise.resolve();
  /** The sync round under way (reading the cluster's keys, placing, editing), or null. */
  #syncing: Promise<void> | null = null;
  /** Another sync round is wanted once the one under way ends. */
  #syncAgain = false;
  #stopped = false;

  constructor(opts: ClusterOptions, stateDir: string, host: ClusterHost) {
    this.name = opts.nodeName;
    this.ttlMs = opts.ttlMs;
    this.#tickMs = opts.ttlMs / DEFAULTS.clusterTicksPerTtl;
    this.#etcd = new EtcdClient(opts.endpoint, opts.ttlMs * DEFAULTS.clusterRequestFraction);
    this.#host = host;
    this.#file = clusterFile(stateDir);
    this.#stateDir = stateDir;
    this.#stamps = new RenewalStamps(stateDir);
    this.#address = opts.address ?? null;
    this.#view = { node: this.name, nodes: [], entities: [], unreachableSince: null };
  }

  /**
   * Picks up what this node held before (a Guardian taking over, or a restart): when the
   * lease it recorded is still alive, it and the held entities are kept; otherwise local
   * copies of cluster entities are withdrawn before anything else can restart them. When
   * etcd does not answer, the lease is kept if the last renewal the HAM before recorded
   * (`cluster.renewed`) is younger than the fencing point, which then stays where it was.
   * Call before the engine resumes.
   */
  async recover(localNames: Iterable<string>): Promise<void> {
    let saved: Persisted | null = null;
    try {
      saved = JSON.parse(await Deno.readTextFile(this.#file));
    } catch { /* first start */ }
    if (saved && saved.node === this.name && saved.lease) {
      const sent = performance.now();
      let ttl = 0;
      try {
        ttl = await this.#etcd.keepAlive(saved.lease);
      } catch (err) {
        const age = err instanceof EtcdUnavailable && err.grpcCode === null
          ? await renewalAge(this.#stateDir, saved.lease)
          : null;
        if (age !== null && age < this.ttlMs * DEFAULTS.clusterFenceFraction) {
          this.#keep(saved, performance.now() - age);
          const left = Math.round(this.ttlMs * DEFAULTS.clusterFenceFraction - age);
          this.#host.log(
            "warn",
            `Cluster node "${this.name}" kept lease ${saved.lease}, last renewed ` +
              `${Math.round(age)} ms ago: etcd does not answer; what it holds is fenced in ` +
              `${left} ms unless it is renewed by then`,
          );
          return;
        }
      }
      if (ttl > 0) {
        this.#keep(saved, sent);
        this.#host.log("info", `Cluster node "${this.name}" kept lease ${saved.lease}`);
        return;
      }
    }
    // Only the copies this node recorded as cluster copies are withdrawn: a local entity
    // that merely has the name of a cluster entity is not this node's to kill.
    const stale = new Set(Object.keys(saved?.held ?? {}));
    const known = this.#etcd.unreachableSince !== null
      ? []
      : await this.#etcd.range(ENTITIES).catch(() => [] as KeyValue[]);
    const declared = new Set(known.map((kv) => kv.key.slice(ENTITIES.length)));
    for (const name of localNames) {
      if (stale.has(name)) {
        this.#host.log("warn", `Cluster entity "${name}": the lease that held it is gone`);
        await this.#host.withdraw(name);
      } else if (declared.has(name)) this.#clash(name);
    }
    await this.#save();
  }

  /** Keeps the recorded lease and what it holds, last renewed at `renewedAt`. */
  #keep(saved: Persisted, renewedAt: number): void {
    this.#lease = saved.lease;
    for (const [name, held] of Object.entries(saved.held)) {
      this.#held.set(name, typeof held === "number" ? { applied: held, rev: "" } : held);
    }
    this.#renewed(renewedAt);
  }

  /** Starts renewing, competing and fencing. */
  start(): void {
    this.#schedule(0);
  }

  /** Stops renewing and competing, keeping the lease and what it holds. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#fenceTimer);
    await this.#running;
    await this.#syncing;
    await this.#stamps.flushed();
  }

  /**
   * Leaves the cluster (the HAM is stopped: `hamctl stop`): stops, withdraws every held copy
   * at once (SIGKILL, as a fenced node does: event `fenced`), then revokes the lease, so that
   * the owner keys go with it and another node starts the entities within a tick, never
   * beside a copy here. When etcd cannot be reached the lease is left to expire.
   */
  async leave(): Promise<void> {
    await this.stop();
    const lease = this.#lease;
    try {
      if (this.#held.size > 0) await this.#fenceAll("the node left the cluster");
      this.#lease = null;
      await this.#save();
    } catch (err) {
      // A full disk, say: the copies are ended all the same, and the lease is revoked.
      this.#host.log("error", `Cluster node "${this.name}" leaving: ${err}`);
      this.#lease = null;
    }
    if (lease === null) return;
    try {
      await this.#etcd.revoke(lease);
      this.#host.log("info", `Cluster node "${this.name}" left: lease ${lease} revoked`);
    } catch (err) {
      this.#host.log(
        "warn",
        `Cluster node "${this.name}" left; its lease ${lease} expires: ${err}`,
      );
    }
  }

  /** The cluster as last seen. */
  view(): ClusterView {
    const since = this.#etcd.unreachableSince;
    return {
      ...this.#view,
      unreachableSince: since === null ? null : new Date(since).toISOString(),
    };
  }

  /**
   * The address a live node's HAM serves mutual TLS on, as it published it in the registry
   * (as last seen), or null: not a live node, or one without `--listen`.
   */
  addressOf(node: string): string | null {
    return this.#addresses.get(node) ?? null;
  }

  /** This node's registry value: its pid and, with `--listen`, its address. */
  #registration(): string {
    return JSON.stringify({
      pid: Deno.pid,
      ...(this.#address === null ? {} : { address: this.#address }),
    });
  }

  /** The definition of a cluster entity, as last seen. */
  spec(name: string): ClusterSpec | undefined {
    return this.#specs.get(name);
  }

  /** True when this node holds (runs) cluster entity `name`. */
  holds(name: string): boolean {
    return this.#held.has(name);
  }

  /** True when `name` is a cluster entity (as last seen). */
  isClusterEntity(name: string): boolean {
    return this.#view.entities.some((e) => e.name === name);
  }

  /**
   * True when `name` is a cluster entity: in the view, else in etcd (the view may be a tick
   * old). When etcd cannot be reached, the view answers, at once once this node knows it
   * (a local request never waits for an etcd that does not answer).
   */
  async isDeclared(name: string): Promise<boolean> {
    if (this.isClusterEntity(name)) return true;
    if (this.#etcd.unreachableSince !== null) return false;
    const key = ENTITIES + name;
    try {
      return (await this.#etcd.range(key)).some((kv) => kv.key === key);
    } catch (err) {
      if (err instanceof EtcdUnavailable) return false;
      throw err;
    }
  }

  /**
   * A cluster entity's definition and holder as etcd has them now (for a name the view does
   * not have yet), or null: not declared, or etcd cannot be reached (known already: not
   * asked).
   */
  async lookup(name: string): Promise<{ spec: ClusterSpec; node: string | null } | null> {
    if (this.#etcd.unreachableSince !== null) return null;
    const key = ENTITIES + name;
    try {
      const kv = (await this.#etcd.range(key)).find((k) => k.key === key);
      if (!kv) return null;
      const owner = (await this.#etcd.range(OWNERS + name)).find((k) => k.key === OWNERS + name);
      return { spec: parseSpec(name, kv.value), node: owner?.value ?? null };
    } catch (err) {
      if (err instanceof EtcdUnavailable) return null;
      throw err;
    }
  }

  /** Logs (once per name) a local entity that has the name of a cluster entity. */
  #clash(name: string): void {
    if (this.#clashes.has(name)) return;
    this.#clashes.add(name);
    this.#host.log(
      "error",
      `Cluster entity "${name}" has the name of a local entity of node "${this.name}": ` +
        `this node leaves the local one alone and does not run the cluster one`,
    );
  }

  /** Declares a cluster entity; EEXIST when one of that name exists. */
  async declare(attach: ClusterAttach, placement: string[]): Promise<unknown> {
    const spec: ClusterSpec = { name: attach.entity, attach, placement, edits: [] };
    const key = ENTITIES + spec.name;
    const created = await this.#call(() =>
      this.#etcd.txn([{ key, target: "CREATE", createRevision: "0" }], [
        { put: { key, value: JSON.stringify(spec) } },
      ])
    );
    if (!created) {
      throw new HamError("EEXIST", `Cannot declare cluster entity "${spec.name}": it exists`);
    }
    this.#view.entities.push({ name: spec.name, node: null, placement });
    this.#specs.set(spec.name, spec);
    this.#kick();
    return { entity: spec.name, cluster: true, placement };
  }

  /**
   * Applies an edit to a cluster entity's definition (checked as a local edit would be).
   * Returns {@linkcode NOT_DECLARED} when etcd has no cluster entity of that name.
   */
  async edit(name: string, req: EditRequest): Promise<unknown> {
    const key = ENTITIES + name;
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = (await this.#call(() => this.#etcd.range(key))).find((k) => k.key === key);
      if (!kv) return NOT_DECLARED;
      const { spec, result } = withEdit(parseSpec(name, kv.value), req);
      const done = await this.#call(() =>
        this.#etcd.txn([{ key, target: "MOD", modRevision: kv.modRevision }], [
          { put: { key, value: JSON.stringify(spec) } },
        ])
      );
      if (done) {
        this.#kick();
        return result;
      }
    }
    throw new HamError("EBUSY", `Cannot edit cluster entity "${name}": too many concurrent edits`);
  }

  /** Undeclares a cluster entity: its holder detaches it. */
  async undeclare(name: string): Promise<unknown> {
    await this.#call(() => this.#etcd.delete(ENTITIES + name));
    this.#kick();
    return { entity: name };
  }

  async #call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof EtcdUnavailable) {
        throw new HamError("EHOSTUNREACH", `Cannot reach the cluster: ${err.message}`);
      }
      throw err;
    }
  }

  /**
   * The renewals: each one that reaches etcd starts a sync round unless one is under way.
   * They never wait for a sync round: one slow to place or edit entities in the HAM (a slow
   * disk, many entities at once) must not keep the lease from being renewed, which would
   * fence every copy.
   */
  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      // While etcd cannot be reached, retry four times as often: renewing as soon as it
      // is back is what keeps a short etcd outage from fencing anything.
      let next = this.#tickMs / 4;
      this.#running = this.#running.then(() => this.#renew()).then(
        (reached) => {
          if (!reached) return;
          next = this.#tickMs;
          this.#syncSoon();
        },
        (err) => this.#host.log("warn", `Cluster node "${this.name}": ${err}`),
      ).finally(() => this.#schedule(next));
    }, ms);
  }

  /** Runs a sync round now, or after the one under way. */
  #syncSoon(): void {
    if (this.#syncing !== null) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false;
        try {
          await this.#syncRound();
        } catch (err) {
          this.#host.log("warn", `Cluster node "${this.name}": ${err}`);
        }
      } while (this.#syncAgain && !this.#stopped);
    })().finally(() => this.#syncing = null);
  }

  /** Runs a renewal and a sync round soon (after a declaration or an edit). */
  #kick(): void {
    this.#schedule(0);
  }

  #renewed(sentAt: number): void {
    this.#renewedAt = sentAt;
    this.#stamp();
    clearTimeout(this.#fenceTimer);
    const due = sentAt + this.ttlMs * DEFAULTS.clusterFenceFraction - performance.now();
    this.#fenceTimer = setTimeout(() => this.#fenceIfLate(), Math.max(0, due));
  }

  /** Records the last renewal for the next HAM on the state directory, while copies are held. */
  #stamp(): void {
    if (this.#lease === null || this.#held.size === 0) return;
    this.#stamps.record(this.#lease, this.#renewedAt);
  }

  /** The fencing rule: no renewal for 0.8 × TTL stops every held copy. */
  #fenceIfLate(): void {
    const silent = performance.now() - this.#renewedAt;
    if (silent < this.ttlMs * DEFAULTS.clusterFenceFraction || this.#held.size === 0) return;
    void this.#fenceAll(`no lease renewal for ${Math.round(silent)} ms`);
  }

  async #fenceAll(reason: string): Promise<void> {
    const names = [...this.#held.keys()];
    const lease = this.#lease;
    this.#held.clear();
    this.#lease = null; // Compete again only under a new lease.
    const ended = await Promise.all(names.map((name) => this.#fence(name, reason)));
    // Revoked only once every copy is gone: a copy that could not be withdrawn keeps the
    // lease to its expiry, so that no other node starts the entity sooner.
    if (lease !== null && ended.every((e) => e)) this.#abandoned = lease;
    // The copies are gone whatever the disk says: a failed write (a full disk, the state
    // directory gone) is logged, never thrown at a caller that does not wait (the fencing
    // timer's), where it would end the HAM.
    await this.#save().catch((err) => {
      this.#host.log("error", `Cannot record the fence (${reason}) in ${this.#file}: ${err}`);
    });
  }

  /** Withdraws a held copy; false when it could not be. */
  async #fence(name: string, reason: string): Promise<boolean> {
    this.#held.delete(name);
    // Not here any more, whatever the view last read (etcd may not answer until it knows).
    this.#view.entities = this.#view.entities.map((e) =>
      e.name === name && e.node === this.name ? { ...e, node: null } : e
    );
    const ended = await this.#host.withdraw(name).then(() => true, (err) => {
      this.#host.log("error", `Cannot withdraw cluster entity "${name}": ${err}`);
      return false;
    });
    this.#host.publish("fenced", name, { node: this.name, reason });
    this.#host.log("warn", `Cluster entity "${name}" fenced on "${this.name}": ${reason}`);
    return ended;
  }

  /** Renews (or gets) the lease; false when etcd could not be reached. */
  async #renew(): Promise<boolean> {
    if (this.#stopped) return true;
    if (this.#abandoned !== null) {
      const abandoned = this.#abandoned;
      try {
        await this.#etcd.revoke(abandoned);
        this.#host.log("info", `Cluster node "${this.name}" revoked its old lease ${abandoned}`);
      } catch (err) {
        if (!(err instanceof EtcdUnavailable)) throw err;
        if (err.grpcCode === null) return false; // Tried again at the next renewal.
        // Refused: left to expire.
        this.#host.log("warn", `Cluster node "${this.name}": ${err.message}`);
      }
      if (this.#abandoned === abandoned) this.#abandoned = null;
    }
    const sent = performance.now();
    if (this.#lease === null) {
      if (this.#held.size > 0) await this.#fenceAll("the lease was lost");
      try {
        const { id } = await this.#etcd.grant(Math.round(this.ttlMs / 1000));
        this.#lease = id;
        this.#renewed(sent);
        await this.#save();
        await this.#etcd.put(NODES + this.name, this.#registration(), id);
        this.#host.log("info", `Cluster node "${this.name}" joined with lease ${id}`);
      } catch (err) {
        if (!(err instanceof EtcdUnavailable)) throw err;
        return false;
      }
      return true;
    }
    try {
      const ttl = await this.#etcd.keepAlive(this.#lease);
      if (ttl <= 0) {
        await this.#fenceAll("the lease expired");
        return true;
      }
      this.#renewed(sent);
    } catch (err) {
      if (!(err instanceof EtcdUnavailable)) throw err;
      this.#fenceIfLate();
      return false;
    }
    return true;
  }

  /** Reads the cluster's keys and syncs with them (under a lease only). */
  async #syncRound(): Promise<void> {
    if (this.#stopped || this.#lease === null) return;
    let all: KeyValue[];
    try {
      all = await this.#etcd.range(CLUSTER_PREFIX);
    } catch (err) {
      if (!(err instanceof EtcdUnavailable)) throw err;
      return;
    }
    await this.#sync(all);
  }

  async #sync(all: KeyValue[]): Promise<void> {
    const registered = all.filter((k) => k.key.startsWith(NODES));
    const nodes = registered.map((k) => k.key.slice(NODES.length));
    this.#addresses = new Map(registered.flatMap((k) => {
      const address = addressIn(k.value);
      return address === null ? [] : [[k.key.slice(NODES.length), address]];
    }));
    if (!nodes.includes(this.name) && this.#lease !== null) {
      await this.#etcd.put(NODES + this.name, this.#registration(), this.#lease)
        .catch(() => {});
      nodes.push(this.name);
    }
    const owners = new Map(
      all.filter((k) => k.key.startsWith(OWNERS)).map((k) => [k.key.slice(OWNERS.length), k]),
    );
    const specs: ClusterSpec[] = [];
    const revs = new Map<string, string>();
    for (const kv of all.filter((k) => k.key.startsWith(ENTITIES))) {
      try {
        specs.push(parseSpec(kv.key.slice(ENTITIES.length), kv.value));
        revs.set(kv.key.slice(ENTITIES.length), kv.createRevision);
      } catch (err) {
        this.#host.log("warn", (err as Error).message);
      }
    }
    this.#specs = new Map(specs.map((s) => [s.name, s]));
    this.#view = {
      node: this.name,
      unreachableSince: null,
      nodes: nodes.sort(),
      entities: specs.map((s) => ({
        name: s.name,
        node: owners.get(s.name)?.value ?? null,
        placement: s.placement,
      })),
    };
    for (const name of [...this.#held.keys()]) {
      if (specs.some((s) => s.name === name)) continue;
      this.#held.delete(name);
      if (this.#host.hasEntity(name)) await this.#host.detach(name);
      await this.#etcd.delete(OWNERS + name).catch(() => {});
      await this.#save();
    }
    // Each entity on its own: one that cannot be synced must not stop the others'.
    for (const spec of specs) {
      try {
        await this.#syncOne(spec, revs.get(spec.name)!, owners.get(spec.name), nodes);
        this.#syncErrors.delete(spec.name);
      } catch (err) {
        if (err instanceof EtcdUnavailable) throw err;
        const text = String(err);
        if (this.#syncErrors.get(spec.name) === text) continue;
        this.#syncErrors.set(spec.name, text);
        this.#host.log("error", `Cannot sync cluster entity "${spec.name}": ${text}`);
      }
    }
    for (const name of [...this.#syncErrors.keys(), ...this.#failed.keys()]) {
      if (this.#specs.has(name)) continue;
      this.#syncErrors.delete(name);
      this.#failed.delete(name);
    }
  }

  async #syncOne(
    spec: ClusterSpec,
    rev: string,
    owner: KeyValue | undefined,
    live: string[],
  ): Promise<void> {
    const { name } = spec;
    if (owner && owner.value === this.name && owner.lease === this.#lease) {
      this.#freeSince.delete(name);
      const held = this.#held.get(name);
      if (held === undefined) {
        // Given up here, with the key not yet released (etcd could not be reached then).
        if (this.#failed.has(name)) return await this.#release(name);
        return await this.#place(spec, rev, null);
      }
      if (held.rev !== "" && held.rev !== rev) {
        // Undeclared and declared again between two ticks: the copy runs the old definition.
        this.#held.delete(name);
        await this.#host.withdraw(name).catch((err) =>
          this.#host.log("error", `Cannot withdraw cluster entity "${name}": ${err}`)
        );
        this.#host.log("info", `Cluster entity "${name}" was declared again: placing it anew`);
        return await this.#place(spec, rev, null);
      }
      if (held.placed === false) {
        // Won and recorded by a HAM that died while placing it (this one took over from it).
        // Its process started (this HAM adopted it): the placement was done. It did not: it
        // is placed now, since no other node can while this one holds it.
        if (this.#host.isRunning(name)) {
          this.#held.set(name, { ...held, placed: true });
          return await this.#save();
        }
        this.#host.log("info", `Cluster entity "${name}" was being placed: placing it again`);
        return await this.#place(spec, rev, null);
      }
      if (held.applied < spec.edits.length && this.#host.hasEntity(name)) {
        await this.#applyEdits(spec, held.applied, rev);
      }
      const now = this.#held.get(name);
      if (now === undefined) return; // Fenced while its edits were applied.
      if (now.applied !== spec.edits.length || now.rev !== rev) {
        this.#held.set(name, { ...now, applied: spec.edits.length, rev });
        await this.#save();
      }
      return;
    }
    if (owner) {
      this.#freeSince.delete(name);
      this.#lastOwner.set(name, owner.value);
      if (this.#held.has(name)) {
        await this.#fence(name, `held by "${owner.value}"`);
        await this.#save();
      } else if (this.#host.hasEntity(name)) this.#clash(name);
      return;
    }
    if (this.#held.has(name)) {
      await this.#fence(name, "its election key is gone");
      await this.#save();
    }
    const eligible = spec.placement.length === 0
      ? [...live].sort()
      : spec.placement.filter((n) => live.includes(n));
    const rank = eligible.indexOf(this.name);
    const lease = this.#lease;
    if (rank < 0 || lease === null) return;
    if (this.#host.hasEntity(name)) return this.#clash(name); // A local entity, not a copy.
    this.#clashes.delete(name);
    const now = performance.now();
    // After failing to place it, this node stands back long enough for every other eligible
    // node to win it first (twice as long after each failure in a row, up to 8 TTLs).
    const failed = this.#failed.get(name);
    if (failed) {
      const ticks = DEFAULTS.clusterRankTicks * (eligible.length + 1) * 2 ** (failed.count - 1);
      const back = Math.min(ticks * this.#tickMs, 8 * this.ttlMs);
      if (now - failed.at < back) return;
    }
    const since = this.#freeSince.get(name) ?? now;
    this.#freeSince.set(name, since);
    if (now - since < rank * DEFAULTS.clusterRankTicks * this.#tickMs) return;
    const key = OWNERS + name;
    const won = await this.#etcd.txn(
      [{ key, target: "CREATE", createRevision: "0" }],
      [{ put: { key, value: this.name, lease } }],
    );
    // Won under a lease that the node may have given up meanwhile (a renewal is not held up
    // by a sync round): then the key goes with that lease, and the node competes again.
    if (won && this.#lease === lease) {
      await this.#place(spec, rev, this.#lastOwner.get(name) ?? null);
    }
  }

  /**
   * Applies the edits of a held entity from `applied` on, one at a time, each counted as
   * applied once tried: a removal whose target the local HAM already removed (a condition or
   * action that was not re-armed goes once it fired, as in QNX) is done, and an edit that
   * fails otherwise is logged and passed over, so that it cannot wedge the entity.
   */
  async #applyEdits(spec: ClusterSpec, applied: number, rev: string): Promise<void> {
    for (let i = applied; i < spec.edits.length; i++) {
      const edit = spec.edits[i];
      try {
        await this.#host.edit(spec.name, [edit]);
      } catch (err) {
        const gone = err instanceof HamError && err.code === "ENOENT" &&
          edit.op.endsWith("-remove");
        if (!gone) {
          this.#host.log(
            "error",
            `Cluster entity "${spec.name}": cannot apply its edit ${edit.op} ` +
              `${editPath(edit)} here, passed over: ${err}`,
          );
        }
      }
      // Fenced meanwhile: what is left is for the node that places it next.
      if (!this.#held.has(spec.name)) return;
      this.#held.set(spec.name, { ...this.#held.get(spec.name), applied: i + 1, rev });
      await this.#save();
    }
  }

  async #place(spec: ClusterSpec, rev: string, previous: string | null): Promise<void> {
    const { name } = spec;
    this.#freeSince.delete(name);
    if (!this.#held.has(name) && this.#host.hasEntity(name)) {
      // A local entity of that name appeared since this node competed: it is not a copy,
      // so it is left alone, and the entity is left to another node.
      this.#clash(name);
      await this.#etcd.delete(OWNERS + name).catch(() => {});
      return;
    }
    const held: Held = { applied: spec.edits.length, rev, placed: false };
    this.#held.set(name, held);
    this.#stamp();
    await this.#save();
    let failure: unknown = null;
    try {
      await this.#host.place(spec);
    } catch (err) {
      failure = err ?? new Error("unknown error");
    }
    if (this.#held.get(name) !== held) {
      // Fenced while its HAM was starting it (a place slower than the fencing point): what
      // was started since is under no lease, and is not this node's to run.
      await this.#host.withdraw(name).catch((err) =>
        this.#host.log("error", `Cannot withdraw cluster entity "${name}": ${err}`)
      );
      this.#host.log("warn", `Cluster entity "${name}" withdrawn: fenced while it was placed`);
      return;
    }
    if (failure !== null) return await this.#giveUp(name, failure);
    held.placed = true;
    await this.#save();
    this.#failed.delete(name);
    this.#host.publish("placed", name, { node: this.name });
    if (previous !== null && previous !== this.name) {
      this.#host.publish("failover", name, { from: previous, to: this.name });
    }
    this.#lastOwner.set(name, this.name);
    this.#host.log("info", `Cluster entity "${name}" placed on "${this.name}"`);
  }

  /**
   * Gives up an entity this node won but could not start (e.g. its cwd is missing here):
   * withdraws what was placed, releases the owner key if it is still this node's, and
   * stands back from it a while (see {@linkcode ClusterNode.#syncOne}) so that another
   * eligible node takes it; this node tries again after, if none did.
   */
  async #giveUp(name: string, err: unknown): Promise<void> {
    this.#held.delete(name);
    await this.#host.withdraw(name).catch((e) =>
      this.#host.log("error", `Cannot withdraw cluster entity "${name}": ${e}`)
    );
    await this.#save();
    const count = (this.#failed.get(name)?.count ?? 0) + 1;
    this.#failed.set(name, { at: performance.now(), count });
    this.#host.log(
      "error",
      `Cannot place cluster entity "${name}" on "${this.name}", given up for another node: ${err}`,
    );
    await this.#release(name);
  }

  /** Deletes the owner key of `name` if it is still this node's, under its current lease. */
  async #release(name: string): Promise<void> {
    const lease = this.#lease;
    if (lease === null) return;
    const key = OWNERS + name;
    await this.#etcd.txn(
      [{ key, target: "VALUE", value: this.name }, { key, target: "LEASE", lease }],
      [{ delete: { key } }],
    );
  }

  async #save(): Promise<void> {
    const saved: Persisted = {
      node: this.name,
      lease: this.#lease ?? "",
      held: Object.fromEntries(this.#held),
    };
    await writeFileAtomic(this.#file, JSON.stringify(saved));
  }
}

/** An edit's path, `E/C[/A]`, for the log. */
function editPath(edit: EditRequest): string {
  const p = edit.path as { entity: string; condition?: string; action?: string };
  return [p.entity, p.condition, p.action].filter((x) => x !== undefined).join("/");
}

/** The `address` of a registry value, or null. */
function addressIn(value: string): string | null {
  try {
    const address = (JSON.parse(value) as { address?: unknown }).address;
    return typeof address === "string" && address !== "" ? address : null;
  } catch {
    return null;
  }
}

/** The attach request of a cluster declaration, without what has no meaning on another node. */
export function clusterAttach(req: Extract<Request, { op: "attach" }>): ClusterAttach {
  if (req.argv === null) {
    throw new HamError(
      "EINVAL",
      `Cannot declare cluster entity "${req.entity}": give a command (a pid is local to a node)`,
    );
  }
  const { id: _id, pid: _pid, ...rest } = req;
  return { ...rest, argv: req.argv };
}
