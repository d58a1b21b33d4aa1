/**
 * Limits and defaults of the operator features (restart, per-entity logs, metrics), in one
 * place until they join the defaults table.
 *
 * @module
 */

/** `hamctl restart`: SIGTERM, then SIGKILL after this long (ms). */
export const RESTART_STOP_TIMEOUT_MS = 10_000;

/** A per-entity log file is rotated when it passes this size (bytes). */
export const ENTITY_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Rotated per-entity log files kept (`NAME.log.1` … `NAME.log.N`). */
export const ENTITY_LOG_KEEP = 5;

/** A per-entity output line longer than this is cut into several log lines (bytes). */
export const ENTITY_LOG_MAX_LINE = 16 * 1024;
