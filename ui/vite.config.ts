import { fileURLToPath } from "node:url";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * The dashboard's page (issue 23), built into dist/ui so the package ships it. The served CSP is
 * `default-src 'self'`: no inline script or style, no module-preload polyfill (it is injected inline).
 */
export default defineConfig({
  root: here,
  base: "./",
  plugins: [preact()],
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: "es2022",
    reportCompressedSize: false,
    // One chunk of ~502 kB minified (149 kB gzip, measured; README "Size"): MQTT.js with its Node polyfills
    // is 70% of it and is needed on every page, so a split would not make the first render lighter.
    chunkSizeWarningLimit: 600,
  },
});
