// node --no-liftoff bench/ecprobe/run-wasm.mjs FILE.wasm: runs a wasm32-wasip1 program the way
// Envoy's V8 host does (TurboFan only).
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
const wasi = new WASI({ version: "preview1", args: ["ecprobe"] });
const module = await WebAssembly.compile(await readFile(process.argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
