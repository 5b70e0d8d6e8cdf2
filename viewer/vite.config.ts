// Builds the viewer into the Python package (rxflow/server/ui), where the server serves it.
// File names carry no content hash, so a rebuild of unchanged sources changes no file and the
// committed build can be compared with a fresh one; the server sends them with no-cache.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: {
    outDir: "../rxflow/server/ui",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: "assets/viewer.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
