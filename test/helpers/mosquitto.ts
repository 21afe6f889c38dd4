import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { findTool } from "./tools.js";
import { withTimeout } from "./wait.js";

const run = promisify(execFile);

export interface MosquittoOptions {
  /** user → password, written with mosquitto_passwd; anonymous access is then off unless allowAnonymous. */
  users?: Record<string, string>;
  /** Content of an acl_file. */
  acl?: string;
  /** A second listener on tlsUrl with a test CA, a server certificate for 127.0.0.1 and a client certificate. */
  tls?: boolean;
  /** Whether the TLS listener demands a client certificate; default true. */
  requireCertificate?: boolean;
  allowAnonymous?: boolean;
  /** Keep retained messages and sessions across restart(); off by default, as brokers often run. */
  persistence?: boolean;
  /** More lines of mosquitto.conf (e.g. the queue limits a test needs). */
  extraConfig?: readonly string[];
}

export interface Mosquitto {
  url: string;
  port: number;
  host: "127.0.0.1";
  tlsUrl?: string;
  caFile?: string;
  clientCert?: string;
  clientKey?: string;
  dir: string;
  /** The broker process's pid (a new one after restart()). */
  readonly pid: number;
  /** Stops the broker, waits for it to exit and removes its folder. */
  stop(): Promise<void>;
  /** Same port, same config; resolves once it accepts connections again. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

/** Ports the kernel hands out now; held together so the two differ, released just before mosquitto binds. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = net.createServer();
      server.listen(0, HOST);
      await once(server, "listening");
      return server;
    }),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** A CA, a server certificate valid for 127.0.0.1/localhost and a client certificate, via the openssl CLI. */
async function makeCertificates(
  dir: string,
): Promise<{ ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }> {
  const file = (name: string) => path.join(dir, name);
  // EC keys: generated in milliseconds, where RSA would slow every test file down.
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=qga-mqtt test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const sign = async (name: string, subject: string, extensions: string) => {
    await run("openssl", [
      "req",
      ...ec,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      subject,
    ]);
    await writeFile(file(`${name}.ext`), extensions);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file("ca.crt"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-out",
      file(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      file(`${name}.ext`),
    ]);
  };
  await sign(
    "server",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await sign("client", "/CN=qga-worker", "extendedKeyUsage=clientAuth\n");
  return {
    ca: file("ca.crt"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    clientCert: file("client.crt"),
    clientKey: file("client.key"),
  };
}

/** Starts mosquitto and resolves when it logs that it is running (it does once every listener is bound). */
async function launch(binary: string, config: string): Promise<ChildProcess> {
  const child = spawn(binary, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const running = new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
      if (/ running\b/.test(log)) resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`mosquitto exited (${code ?? signal}) at start:\n${log}`)),
    );
  });
  try {
    await withTimeout(running, 10_000, "mosquitto did not report running within 10 s");
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  // Keep draining stderr so a chatty broker never blocks on a full pipe.
  child.stderr!.resume();
  return child;
}

/**
 * SIGTERM, repeated: mosquitto 2.0.11 logs "running" just before it sets its run flag, so a SIGTERM that
 * lands in between is forgotten and the broker runs on (seen in about one stop in ten right after start).
 */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const again = setInterval(() => child.kill("SIGTERM"), 250);
  const last = setTimeout(() => child.kill("SIGKILL"), 5000);
  try {
    await exited;
  } finally {
    clearInterval(again);
    clearTimeout(last);
  }
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const binary = findTool("mosquitto");
  if (!binary) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-mosquitto-"));
  try {
    const [port, tlsPort] = await freePorts(2);
    const users = options.users ?? {};
    const lines = [
      `persistence ${options.persistence ? "true" : "false"}`,
      `persistence_location ${dir}/`,
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      `allow_anonymous ${options.allowAnonymous ?? Object.keys(users).length === 0}`,
    ];
    lines.push(...(options.extraConfig ?? []));
    // As root, mosquitto switches to the `mosquitto` user, which cannot read this private temp folder.
    if (process.getuid?.() === 0) lines.push("user root");
    let first = true;
    for (const [user, password] of Object.entries(users)) {
      const file = path.join(dir, "passwd");
      await run("mosquitto_passwd", [...(first ? ["-c"] : []), "-b", file, user, password]);
      if (first) lines.push(`password_file ${file}`);
      first = false;
    }
    if (options.acl !== undefined) {
      await writeFile(path.join(dir, "acl"), options.acl);
      lines.push(`acl_file ${path.join(dir, "acl")}`);
    }
    lines.push(`listener ${port} ${HOST}`);
    const result: Mosquitto = {
      url: `mqtt://${HOST}:${port}`,
      port: port!,
      host: HOST,
      dir,
      get pid() {
        return child.pid!;
      },
      stop: async () => {
        await terminate(child);
        await rm(dir, { recursive: true, force: true });
      },
      restart: async () => {
        await terminate(child);
        child = await launch(binary, config);
      },
    };
    if (options.tls) {
      const certs = await makeCertificates(dir);
      lines.push(
        `listener ${tlsPort} ${HOST}`,
        `cafile ${certs.ca}`,
        `certfile ${certs.serverCert}`,
        `keyfile ${certs.serverKey}`,
        `require_certificate ${options.requireCertificate ?? true}`,
      );
      Object.assign(result, {
        tlsUrl: `mqtts://${HOST}:${tlsPort}`,
        caFile: certs.ca,
        clientCert: certs.clientCert,
        clientKey: certs.clientKey,
      });
    }
    const config = path.join(dir, "mosquitto.conf");
    await writeFile(config, `${lines.join("\n")}\n`);
    let child = await launch(binary, config);
    return result;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
