#!/usr/bin/env node
import { runCli } from "./cli.js";

// The only file that touches process: argv, env, signals, exit.
const stopSignal = new Promise<string>((resolve) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => resolve(signal));
  }
});

// A reader that has gone (`qga-mqtt env | head -1`) closes the pipe: the rest of the output has no reader,
// so the process ends, quietly and with 0, as `yes | head -1` does, instead of dying of an unhandled EPIPE
// with a stack trace. (The worker's log does not go through these streams: pino's destination stops
// writing on EPIPE by itself and the worker runs on.)
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

runCli({
  argv: process.argv.slice(2),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stopSignal,
  stderrIsTty: process.stderr.isTTY === true,
  stdoutIsTty: process.stdout.isTTY === true,
}).then(
  (code) => {
    process.exitCode = code;
    // Sockets of agents that never answer must not keep a stopped worker alive.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `qga-mqtt: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(70);
  },
);
