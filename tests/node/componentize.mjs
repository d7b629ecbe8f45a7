// Build a JavaScript component with ComponentizeJS (the version tests/node's lock file pins):
//
//     node componentize.mjs SOURCE.js WIT-DIR WORLD OUT.wasm
//
// `jco componentize` cannot do it with these pins: jco reads the WIT through wasm-tools run
// on preview2-shim, which since 0.26 gives a guest no preopened directory unless told to
// (jco issue 466), so it finds no file. Here the build tool, and only it, is given the host's
// filesystem; the component it builds gets nothing from this.
import { writeFile } from 'node:fs/promises';

import { componentize } from '@bytecodealliance/componentize-js';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node componentize.mjs SOURCE.js WIT-DIR WORLD OUT.wasm');
  process.exit(2);
}
_setPreopens({ '/': '/' });
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName,
  // The examples use sockets, stdio, clocks and random; fetch and wasi:http would become
  // imports no socket host needs to offer.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
