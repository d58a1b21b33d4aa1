/**
 * The cluster's limits and timings, in one place (to move into `lib/core/defaults.ts`).
 *
 * @module
 */

/** The lease TTL of a node (`--cluster-ttl`), in ms: etcd's minimum with default timing. */
export const CLUSTER_TTL_MS = 2_000;

/** Renewals and placement checks happen this many times per TTL ("renew often"). */
export const CLUSTER_TICKS_PER_TTL = 10;

/**
 * A holder that could not renew its lease for this fraction of the TTL stops its copies
 * ("fence late": etcd ends the lease no sooner than one TTL after the last renewal it
 * received, which was sent no sooner than the last one we saw succeed).
 */
export const CLUSTER_FENCE_FRACTION = 0.8;

/** The time limit of one etcd request, as a fraction of the TTL. */
export const CLUSTER_REQUEST_FRACTION = 0.25;

/** A less preferred node waits this many ticks per rank before competing for a free entity. */
export const CLUSTER_RANK_TICKS = 2;

/** The key prefix of everything ham keeps in etcd. */
export const CLUSTER_PREFIX = "/ham/";
