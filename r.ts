const p = Deno.args[0];
try {
  const f = Deno.openSync("/proc/" + p + "/environ");
  const b = new Uint8Array(65536);
  const n = f.readSync(b);
  console.log("openSync read", n);
} catch (e) {
  console.log("open/read err", String(e));
}
try {
  console.log(
    "readTextFile cmdline",
    JSON.stringify(Deno.readTextFileSync("/proc/" + p + "/cmdline")),
  );
} catch (e) {
  console.log(String(e));
}
try {
  console.log("readFile environ", Deno.readFileSync("/proc/" + p + "/environ").length);
} catch (e) {
  console.log(String(e));
}
