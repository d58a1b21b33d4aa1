/**
 * Test certificates made with `openssl`: a CA, a server certificate for 127.0.0.1, client
 * certificates (subject CN as given) signed by that CA, and a foreign CA with a client
 * certificate of its own. All X.509 v3 with P-256 keys (rustls, behind Deno.connectTls,
 * refuses v1 certificates).
 *
 * @module
 */

/** Paths of the PEM files made by {@linkcode makeCerts}. */
export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Client certificate and key by CN (and `foreign`: signed by another CA). */
  clients: Record<string, { cert: string; key: string }>;
  /** The other CA. */
  foreignCa: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    "req",
    "-x509",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  );
}

async function sign(dir: string, ca: string, name: string, cn: string, ext: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
  await openssl(
    dir,
    "req",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${cn}`,
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
}

/** Makes the certificates in a new temporary directory (remove `dir` afterwards). */
export async function makeCerts(clientCns: string[]): Promise<Certs> {
  const dir = await Deno.makeTempDir({ prefix: "ham-tls-" });
  await makeCa(dir, "ca");
  await makeCa(dir, "other-ca");
  const client = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
  await sign(
    dir,
    "ca",
    "server",
    "server",
    // Also a client certificate: cluster members dial each other with their own.
    "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  const clients: Certs["clients"] = {};
  for (const cn of clientCns) {
    await sign(dir, "ca", `client-${cn}`, cn, client);
    clients[cn] = { cert: `${dir}/client-${cn}.pem`, key: `${dir}/client-${cn}.key` };
  }
  await sign(dir, "other-ca", "client-foreign", "admin", client);
  clients.foreign = { cert: `${dir}/client-foreign.pem`, key: `${dir}/client-foreign.key` };
  return {
    dir,
    ca: `${dir}/ca.pem`,
    serverCert: `${dir}/server.pem`,
    serverKey: `${dir}/server.key`,
    clients,
    foreignCa: `${dir}/other-ca.pem`,
  };
}

/** A loopback TCP port nothing listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
