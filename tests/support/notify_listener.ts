/**
 * A stand-in for systemd's notification socket: listens on the Unix datagram socket given
 * as the first argument, prints "listening", then each datagram it receives as one line of
 * JSON (its text). Run with `--unstable-net`.
 *
 * @module
 */

const socket = Deno.listenDatagram({ transport: "unixpacket", path: Deno.args[0] });
console.log("listening");
for await (const [data] of socket) console.log(JSON.stringify(new TextDecoder().decode(data)));
