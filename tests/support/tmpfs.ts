/**
 * A small tmpfs mounted for one test (a full disk on demand). Needs root (CI runs as root);
 * where mounting is refused, {@linkcode mountTmpfs} prints why and returns null, and the
 * test skips.
 *
 * @module
 */

/** A mounted tmpfs; `await using fs = await mountTmpfs(...)` unmounts and removes it. */
export interface Tmpfs extends AsyncDisposable {
  /** The mount point. */
  readonly path: string;
  /**
   * Writes a file of zeros until the filesystem is full, then appends to each of `topUp`
   * (the last page of a tmpfs file may still have room) until it is full too; returns the
   * filler's path.
   */
  fill(topUp?: string[]): Promise<string>;
}

/** Mounts a tmpfs of `bytes` on a new temporary directory, or prints why not and returns null. */
export async function mountTmpfs(bytes: number, what: string): Promise<Tmpfs | null> {
  const path = await Deno.makeTempDir({ prefix: "ham-tmpfs-" });
  const out = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", path],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((err) => ({ success: false, stderr: new TextEncoder().encode(String(err)) }));
  if (!out.success) {
    await Deno.remove(path).catch(() => {});
    console.log(
      `SKIPPED ${what}: cannot mount a tmpfs (${new TextDecoder().decode(out.stderr).trim()})`,
    );
    return null;
  }
  return {
    path,
    async fill(topUp = []) {
      const filler = `${path}/filler`;
      for (const target of [filler, ...topUp]) {
        const file = await Deno.open(target, { write: true, create: true, append: true });
        const chunk = new Uint8Array(64 * 1024).fill(target === filler ? 0 : 10);
        for (let n = chunk.length; n >= 1; n = Math.floor(n / 2)) {
          try {
            for (;;) await file.write(chunk.subarray(0, n));
          } catch (err) {
            if (!/no space/i.test(String(err))) throw err;
          }
        }
        file.close();
      }
      return filler;
    },
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: ["-l", path], stdout: "null", stderr: "null" })
        .output().catch(() => {});
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
