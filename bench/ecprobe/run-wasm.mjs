// node --no-liftoff bench/ecprobe/run-wasm.mjs FILE.wasm [ARGS...]: runs a wasm32-wasip1 program
// the way Envoy's V8 host does (TurboFan only).
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
const wasi = new WASI({ version: "preview1", args: ["ecprobe", ...process.argv.slice(3)] });
const module = await WebAssembly.compile(await readFile(process.argv[2]));
// edge-auth links its proxy-wasm host layer in wasm, which imports Envoy's functions ("env");
// the probe never calls them, so each is a stub that fails loudly if it ever is.
const imports = wasi.getImportObject();
for (const { module: from, name } of WebAssembly.Module.imports(module)) {
  if (!(from in imports)) imports[from] = {};
  if (!(name in imports[from])) imports[from][name] = () => { throw new Error(`host call ${from}.${name}`); };
}
const instance = await WebAssembly.instantiate(module, imports);
// node's WASI refuses a module that exports `_initialize` too (edge-auth's proxy-wasm entry
// point): hand it only what a command needs.
wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
