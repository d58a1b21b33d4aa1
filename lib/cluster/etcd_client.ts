/**
 * A small client of etcd's v3 JSON gateway (`/v3/...` over `fetch`, no dependency): keys
 * and values are base64 on the wire and strings here; lease IDs exceed JavaScript's safe
 * integers and stay strings; every call has a time limit and throws
 * {@linkcode EtcdUnavailable} when etcd cannot be reached or answers with an error.
 *
 * @module
 */

/** etcd did not answer in time, or refused the request. */
export class EtcdUnavailable extends Error {
  /** The gRPC status code of etcd's refusal (5: not found), or null when it did not answer. */
  readonly grpcCode: number | null;
  /** Creates the error; `cause` is what `fetch` threw, or the HTTP status. */
  constructor(message: string, options?: { cause?: unknown; grpcCode?: number | null }) {
    super(message, options);
    this.name = "EtcdUnavailable";
    this.grpcCode = options?.grpcCode ?? null;
  }
}

/** etcd's gRPC status code for "not found" (a lease that expired or was revoked). */
const GRPC_NOT_FOUND = 5;

/** One key as etcd holds it. */
export interface KeyValue {
  key: string;
  value: string;
  /** The lease it is attached to, "0" for none. */
  lease: string;
  createRevision: string;
  modRevision: string;
}

/** A comparison of a transaction. */
export type Compare =
  | { key: string; target: "CREATE"; createRevision: string }
  | { key: string; target: "MOD"; modRevision: string }
  | { key: string; target: "VALUE"; value: string }
  | { key: string; target: "LEASE"; lease: string };

/** An operation of a transaction. */
export type TxnOp =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string } };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Base64 of a string's UTF-8 bytes. */
export function b64(text: string): string {
  let bin = "";
  for (const b of encoder.encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

function unb64(text: string | undefined): string {
  if (!text) return "";
  return decoder.decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
}

/** The key just past every key that starts with `prefix` (a range's end). */
export function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix);
  bytes[bytes.length - 1]++;
  return decoder.decode(bytes);
}

function kv(raw: Record<string, string | undefined>): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    lease: raw.lease ?? "0",
    createRevision: raw.create_revision ?? "0",
    modRevision: raw.mod_revision ?? "0",
  };
}

function compare(c: Compare): Record<string, string> {
  const key = b64(c.key);
  switch (c.target) {
    case "CREATE":
      return { key, target: "CREATE", result: "EQUAL", create_revision: c.createRevision };
    case "MOD":
      return { key, target: "MOD", result: "EQUAL", mod_revision: c.modRevision };
    case "VALUE":
      return { key, target: "VALUE", result: "EQUAL", value: b64(c.value) };
    case "LEASE":
      return { key, target: "LEASE", result: "EQUAL", lease: c.lease };
  }
}

function txnOp(op: TxnOp): Record<string, unknown> {
  if ("put" in op) {
    const { key, value, lease } = op.put;
    return { request_put: { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) } };
  }
  return { request_delete_range: { key: b64(op.delete.key) } };
}

/** A client of one etcd endpoint (`http://HOST:PORT`). */
export class EtcdClient {
  readonly endpoint: string;
  #timeoutMs: number;
  #unreachableSince: number | null = null;

  /** `timeoutMs` bounds each request. */
  constructor(endpoint: string, timeoutMs: number) {
    this.endpoint = endpoint.replace(/\/$/, "");
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Since when (`Date.now()`) etcd has not answered: the last request got no answer in time
   * (it cannot be reached, or it is frozen) or a server error; null once one gets an answer,
   * even a refusal (a lease not found).
   */
  get unreachableSince(): number | null {
    return this.#unreachableSince;
  }

  #unanswered(): void {
    this.#unreachableSince ??= Date.now();
  }

  async #post(path: string, body: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint}/v3/${path}`, {
        method: "POST",
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      this.#unanswered();
      throw new EtcdUnavailable(`etcd at ${this.endpoint} unreachable: ${err}`, { cause: err });
    }
    const text = await res.text().catch((err) => {
      this.#unanswered();
      throw new EtcdUnavailable(`etcd at ${this.endpoint} cut the answer: ${err}`);
    });
    // An etcd that cannot serve (no leader, say: 5xx) is no better than one that is gone.
    if (res.status >= 500) this.#unanswered();
    else this.#unreachableSince = null;
    if (!res.ok) {
      let grpcCode: number | null = null;
      try {
        const code = (JSON.parse(text) as { code?: unknown }).code;
        if (typeof code === "number") grpcCode = code;
      } catch { /* not JSON */ }
      throw new EtcdUnavailable(`etcd at ${this.endpoint} answered ${res.status}: ${text}`, {
        grpcCode,
      });
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new EtcdUnavailable(`etcd at ${this.endpoint} answered with no JSON: ${text}`);
    }
  }

  /** Grants a lease; returns its ID and the TTL granted (etcd raises a TTL below its minimum). */
  async grant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const r = await this.#post("lease/grant", { TTL: ttlSeconds });
    return { id: String(r.ID), ttl: Number(r.TTL) };
  }

  /** Renews a lease once; returns its remaining TTL in seconds, or 0 when it has expired. */
  async keepAlive(id: string): Promise<number> {
    const r = await this.#post("lease/keepalive", { ID: id });
    const result = (r.result ?? r) as Record<string, unknown>;
    return Number(result.TTL ?? 0);
  }

  /** Revokes a lease (its keys are deleted); one that has ended already is no error. */
  async revoke(id: string): Promise<void> {
    try {
      await this.#post("lease/revoke", { ID: id });
    } catch (err) {
      if (!(err instanceof EtcdUnavailable && err.grpcCode === GRPC_NOT_FOUND)) throw err;
    }
  }

  /** Every key starting with `prefix`. */
  async range(prefix: string): Promise<KeyValue[]> {
    const r = await this.#post("kv/range", { key: b64(prefix), range_end: b64(prefixEnd(prefix)) });
    return ((r.kvs ?? []) as Record<string, string>[]).map(kv);
  }

  /** Writes a key, attached to `lease` when given. */
  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.#post("kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
  }

  /** Deletes a key. */
  async delete(key: string): Promise<void> {
    await this.#post("kv/deleterange", { key: b64(key) });
  }

  /** Runs `success` when every comparison holds (atomically); returns whether it did. */
  async txn(compares: Compare[], success: TxnOp[]): Promise<boolean> {
    const r = await this.#post("kv/txn", {
      compare: compares.map(compare),
      success: success.map(txnOp),
    });
    return r.succeeded === true;
  }
}
