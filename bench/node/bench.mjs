// The benchmark's workloads under Node, for `alore-socket-bench` (bench/src/node.rs), which
// transpiles the components with tests/node/transpile.mjs, starts the servers on 127.0.0.1,
// and runs this script once per workload and contender:
//
//   node bench.mjs CONTENDER WORKLOAD PORT COUNT [MODULE]
//
// It prints the nanoseconds the workload took, or for round-trips a JSON list of each trip's
// microseconds.
//
// Contenders: `net` (Node's own net module), `component` (the alore-socket component called
// from JavaScript), `composed` (the Rust consumer composed with it: bench/alore-client) and
// `peer` (the wasm std::net peer: bench/std-peer). The last two time themselves with their
// own clock, as under wasmtime. Workloads: receive, receive-detached, lines, round-trips.

import { pathToFileURL } from 'node:url';
import net from 'node:net';
import readline from 'node:readline';

const CHUNK = 64 * 1024;
const [contender, workload, port, count, module] = process.argv.slice(2);
const n = Number(count);
const result = contender === 'net'
  ? await viaNet(workload, Number(port), n)
  : await viaComponent(contender, workload, Number(port), n, module);
process.stdout.write(`${typeof result === 'object' ? JSON.stringify(result) : result}\n`);

function since(started) {
  return process.hrtime.bigint() - started;
}

/** Node's own sockets, written as Node code is: events and async iteration. */
async function viaNet(workload, port, n) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((ok, fail) => socket.once('connect', ok).once('error', fail));
  socket.setNoDelay(true);
  let started = process.hrtime.bigint();
  switch (workload) {
    case 'receive':
    case 'receive-detached': {
      let got = 0;
      for await (const chunk of socket) {
        got += chunk.length;
        if (got >= n) break;
      }
      break;
    }
    case 'lines': {
      let lines = 0;
      for await (const _ of readline.createInterface({ input: socket, crlfDelay: Infinity })) {
        if (++lines === n) break;
      }
      break;
    }
    case 'round-trips': {
      const lines = readline.createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]();
      const times = [];
      for (let i = 0; i < n; i++) {
        started = process.hrtime.bigint();
        socket.write('ping\n');
        await lines.next();
        times.push(Number(since(started)) / 1e3);
      }
      socket.destroy();
      return times;
    }
    default:
      throw new Error(`no workload ${workload}`);
  }
  const elapsed = since(started);
  socket.destroy();
  return elapsed;
}

/** A transpiled component: the socket component itself, or one with the bench's workloads. */
async function viaComponent(contender, workload, port, n, module) {
  const exports = await import(pathToFileURL(module));
  if (contender !== 'component') {
    const calls = workload === 'receive-detached' ? exports.detached : exports.workloads;
    switch (workload) {
      case 'receive':
      case 'receive-detached':
        return calls.receive(port, BigInt(n));
      case 'lines':
        return exports.workloads.lines(port, n);
      case 'round-trips':
        return Array.from(exports.workloads.roundTrips(port, n), (t) => Number(t) / 1e3);
      default:
        throw new Error(`no workload ${workload}`);
    }
  }
  const { Socket } = exports.socket;
  switch (workload) {
    case 'receive': {
      const socket = Socket.connect('127.0.0.1', port, {});
      const started = process.hrtime.bigint();
      let got = 0;
      while (got < n) got += socket.read(CHUNK).length;
      const elapsed = since(started);
      socket.close();
      return elapsed;
    }
    case 'lines': {
      const socket = Socket.connect('127.0.0.1', port, { buffering: 'buffered' });
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) socket.readLn();
      const elapsed = since(started);
      socket.close();
      return elapsed;
    }
    case 'round-trips': {
      const socket = Socket.connect('127.0.0.1', port, {});
      const ping = new TextEncoder().encode('ping');
      const times = [];
      for (let i = 0; i < n; i++) {
        const started = process.hrtime.bigint();
        socket.writeLn(ping);
        socket.readLn();
        times.push(Number(since(started)) / 1e3);
      }
      socket.close();
      return times;
    }
    default:
      throw new Error(`the component from JavaScript has no ${workload} workload`);
  }
}
