import { access, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { DashboardError } from "./errors.js";

/** What ensureUiBuilt needs of a logger. */
type Log = Pick<Logger, "info">;

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * The folder of the built page, `<root>/dist/ui`. The package ships it built; a git checkout that never ran
 * `npm run build:ui` gets it built here, once, with Vite's JS API (a devDependency, so present in a
 * checkout and absent from an install). The build goes to a temporary folder that is then renamed into
 * place, so a server started meanwhile never serves half a page, and two builds at once both end well.
 */
export async function ensureUiBuilt(root: string, log: Log): Promise<string> {
  const dir = path.join(root, "dist", "ui");
  if (await exists(path.join(dir, "index.html"))) return dir;
  const configFile = path.join(root, "ui", "vite.config.ts");
  if (!(await exists(configFile))) {
    throw new DashboardError(
      "ui_missing",
      `the dashboard's page is not built (${dir} has no index.html) and its sources (${configFile}) are ` +
        "not here either: reinstall qga-mqtt, or in a checkout run npm run build:ui",
    );
  }
  let vite: typeof import("vite");
  try {
    vite = await import("vite");
  } catch (error) {
    throw new DashboardError(
      "ui_missing",
      `the dashboard's page is not built (${dir} has no index.html) and Vite is not installed to build ` +
        "it: run npm install, then npm run build:ui",
      { cause: error },
    );
  }
  log.info({ configFile, outDir: dir }, "building the dashboard's page (dist/ui is missing): vite build");
  await mkdir(path.join(root, "dist"), { recursive: true });
  const staging = await mkdtemp(path.join(root, "dist", ".ui-build-"));
  try {
    await vite
      .build({
        configFile,
        root: path.dirname(configFile),
        logLevel: "warn",
        build: { outDir: staging, emptyOutDir: true },
      })
      .catch((error: Error) => {
        throw new DashboardError(
          "ui_missing",
          `the dashboard's page is not built and building it failed: ${error.message} ` +
            "(npm run build:ui shows the whole build)",
          { cause: error },
        );
      });
    if (!(await exists(path.join(staging, "index.html"))))
      throw new DashboardError("ui_missing", `vite build of ${configFile} wrote no index.html`);
    // A dist/ui without index.html is a build that stopped half-way: it is only in the way.
    if (!(await exists(path.join(dir, "index.html")))) await rm(dir, { recursive: true, force: true });
    await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process built it first: theirs is as good.
      if (!(await exists(path.join(dir, "index.html")))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}
