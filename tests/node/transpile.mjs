// node transpile.mjs COMPONENT.wasm OUT_DIR [--jspi]
//
// jco-transpiles a component for Node the way it ran fastest in this project's measurements
// (docs/node.md), with the jco pinned beside this file:
// - `multiMemory` where Node's engine has it (Node 22 and later): a composed component's
//   adapters then copy between the two components' memories inside wasm. Without it (Node
//   20) jco lowers every access to the second memory to a JavaScript call, one per byte of a
//   `list<u8>`, which made a composed bulk receive ten times slower.
// - jco's generated glue reads `process.env.JCO_DEBUG` on every call between components (an
//   environment lookup in Node's C++); it is read once here instead, which made a composed
//   `read-ln` four times faster.
// - `--jspi` for a WASI 0.3 component (async functions, streams): jco's async lowering, which
//   needs JSPI (`WebAssembly.Suspending`: Node 23 or later; the tests use the pinned Node 24).
// Writes OUT_DIR/component.js with its core modules and, for a `wasi:cli` command,
// OUT_DIR/run.mjs: `node OUT_DIR/run.mjs ARGS…` runs it. OUT_DIR must be where Node finds
// `@bytecodealliance/preview2-shim` (a node_modules beside or above it).

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { transpile } from '@bytecodealliance/jco';

const [wasm, outDir, mode] = process.argv.slice(2);
const jspi = mode === '--jspi';
if (!wasm || !outDir || (mode !== undefined && !jspi)) {
  console.error('usage: node transpile.mjs COMPONENT.wasm OUT_DIR [--jspi]');
  process.exit(2);
}

// The smallest module with two memories: valid only where the engine has multi-memory.
const TWO_MEMORIES = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 2, 0, 0, 0, 0]);
const multiMemory = WebAssembly.validate(TWO_MEMORIES);
if (!multiMemory) {
  console.error(`transpile.mjs: Node ${process.version} has no multi-memory: byte lists between composed components are copied by JavaScript, slowly (use Node 22 or later)`);
}

const { files, exports } = await transpile(await readFile(wasm), {
  name: 'component',
  multiMemory,
  noTypescript: true,
  ...(jspi ? { asyncMode: 'jspi' } : {}),
});

const DEBUG_CHECK = '  if (!globalThis?.process?.env?.JCO_DEBUG) { return; }';
for (const [name, bytes] of Object.entries(files)) {
  let contents = bytes;
  if (name === 'component.js') {
    const text = new TextDecoder().decode(bytes);
    contents = text.includes(DEBUG_CHECK)
      ? 'const jcoDebug = globalThis?.process?.env?.JCO_DEBUG;\n' +
        text.replace(DEBUG_CHECK, '  if (!jcoDebug) { return; }')
      : text;
  }
  const path = join(outDir, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, contents);
}

// A WASI 0.3 `run` is awaited, then Node is told to exit once the sockets are done:
// preview3-shim's `wait-until` is a timer that a cancelled wait does not clear, and it would
// hold Node up until it fires, but its sockets live on a worker that may still be sending
// what the component wrote last (its message ports stay open until then), so the launcher
// waits for those first (at most DRAIN_MS, so it never hangs).
const JSPI_LAUNCHER = `import { run } from './component.js';
await run.run();
const DRAIN_MS = 10000;
const idle = new Set(['Timeout', 'Immediate', 'PipeWrap', 'TTYWrap']);
const start = Date.now();
while (process.getActiveResourcesInfo().some((r) => !idle.has(r)) && Date.now() - start < DRAIN_MS) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.exit();
`;
const launcher = jspi ? JSPI_LAUNCHER : "import { run } from './component.js';\nrun.run();\n";
if (exports.some(([name]) => name.startsWith('wasi:cli/run@'))) {
  await writeFile(join(outDir, 'run.mjs'), launcher);
}
