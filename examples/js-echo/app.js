// js-echo: Alore's sockets from JavaScript, as a WebAssembly command.
//
//     js-echo HOST PORT        send each line of stdin, print each reply line
//     js-echo --listen PORT    accept one connection on 127.0.0.1:PORT, echo its lines
//
// Built with `jco componentize` (ComponentizeJS) from the world in wit/world.wit; plug the
// alore-socket component into it (wac plug, or `alore-socket run`) to run it. A contract
// error arrives as a thrown Error whose `payload` is the error variant, e.g.
// `{ tag: 'io-error', val: { kind: 'timed-out', message } }`: it is printed as one line and
// the command fails (status 1).

import { Socket } from 'alore:socket/socket@0.1.3';
import { ServerSocket } from 'alore:socket/server-socket@0.1.3';
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { getStdin } from 'wasi:cli/stdin@0.2.12';
import { getStdout } from 'wasi:cli/stdout@0.2.12';
import { getStderr } from 'wasi:cli/stderr@0.2.12';

// How long a reply may take, in milliseconds, before the read fails with timed-out.
const REPLY_TIMEOUT_MS = 5000;
// The most `blocking-write-and-flush` takes in one call (WASI 0.2).
const WRITE_LIMIT = 4096;

const encoder = new TextEncoder();

// One line for one of the contract's errors, as the Rust examples print them.
function describe(error) {
  switch (error.tag) {
    case 'name-error':
      return `NameError: ${error.val}`;
    case 'value-error':
      return `ValueError: ${error.val}`;
    case 'io-error':
      return `IoError (${error.val.kind}): ${error.val.message}`;
    default:
      return String(error);
  }
}

function write(stream, bytes) {
  for (let at = 0; at < bytes.length; at += WRITE_LIMIT) {
    stream.blockingWriteAndFlush(bytes.subarray(at, at + WRITE_LIMIT));
  }
}

// All of stdin: the lines to send.
function readStdin() {
  const stdin = getStdin();
  const chunks = [];
  for (;;) {
    try {
      chunks.push(stdin.blockingRead(65536n));
    } catch (end) {
      // `closed`: the end of stdin.
      break;
    }
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

function lines(bytes) {
  const out = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 10) {
      out.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < bytes.length) out.push(bytes.subarray(start));
  return out;
}

function client(host, port) {
  // `connect`, the portable entry point, with the options the constructor lacks.
  const socket = Socket.connect(host, port, {
    buffering: 'line-buffered',
    timeoutMs: REPLY_TIMEOUT_MS,
  });
  socket.setTimeout(REPLY_TIMEOUT_MS);
  const replies = [];
  for (const line of lines(readStdin())) {
    socket.writeLn(line);
    replies.push(socket.readLn());
  }
  socket.close();
  // One write for all of it: each console.log would be a host call of its own.
  const size = replies.reduce((n, r) => n + r.length + 1, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const reply of replies) {
    out.set(reply, at);
    out[at + reply.length] = 10;
    at += reply.length + 1;
  }
  write(getStdout(), out);
}

function serveOne(port) {
  const server = ServerSocket.listen(port, '127.0.0.1');
  const socket = server.accept('line-buffered');
  socket.setTimeout(REPLY_TIMEOUT_MS);
  for (;;) {
    let line;
    try {
      line = socket.readLn();
    } catch (e) {
      if (e.payload?.tag === 'io-error' && e.payload.val.kind === 'end-of-stream') break;
      throw e;
    }
    socket.writeLn(line);
  }
  socket.close();
  server.close();
}

export const run = {
  run() {
    const args = getArguments().slice(1);
    try {
      if (args.length === 2 && args[0] === '--listen') {
        serveOne(Number(args[1]));
      } else if (args.length === 2) {
        client(args[0], Number(args[1]));
      } else {
        throw new Error('usage: js-echo HOST PORT | --listen PORT');
      }
    } catch (e) {
      const what = e.payload ? describe(e.payload) : e.message;
      write(getStderr(), encoder.encode(`js-echo: ${what}\n`));
      throw e;
    }
  },
};
