import { readFile, stat } from "node:fs/promises";
import path from "node:path";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly cacheControl: string;
}

/**
 * The file of `dir` a request path names, or undefined (a 404). The path is taken as sent, segment by
 * segment, each percent-decoded: a segment that decodes to `.`, `..`, or holds a slash, backslash or NUL
 * names nothing (`/..%2f..%2fetc/passwd`, `/%2e%2e/`), rather than being resolved and then checked.
 */
export async function staticFile(dir: string, requestPath: string): Promise<StaticFile | undefined> {
  const segments: string[] = [];
  for (const raw of requestPath.split("/").slice(1)) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === "." || segment === ".." || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  if (segments.length === 0 || segments.at(-1) === "") segments.splice(-1, 1, "index.html");
  if (segments.some((s) => s === "")) return undefined;
  const file = path.join(dir, ...segments);
  // Belt and braces: what the checks above let through is inside dir.
  if (!file.startsWith(dir + path.sep)) return undefined;
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  const body = await readFile(file);
  const contentType = TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
  // Vite names what is under assets/ by its content's hash: it never changes. The rest is looked at again.
  const cacheControl = segments[0] === "assets" ? "public, max-age=31536000, immutable" : "no-cache";
  return { body, contentType, cacheControl };
}
