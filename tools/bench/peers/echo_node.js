// Node.js tls echo peer for tools/bench/run: s.pipe(s). Requires and
// verifies a client certificate; TLS 1.3 only, X25519. Prints
// "msg=listening addr=HOST:PORT" on stderr once it accepts.
// Usage: node echo_node.js --listen 127.0.0.1:0 --cert C --key K --ca CA
'use strict';
const fs = require('fs');
const tls = require('tls');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const listen = arg('listen', '127.0.0.1:0');
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(colon + 1));

const server = tls.createServer({
  cert: fs.readFileSync(arg('cert')),
  key: fs.readFileSync(arg('key')),
  ca: fs.readFileSync(arg('ca')),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  ecdhCurve: 'X25519',
}, (s) => {
  s.on('error', () => s.destroy());
  s.pipe(s);
});
server.on('tlsClientError', () => {});
server.listen(port, host, () => {
  const a = server.address();
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  process.stderr.write(`msg=listening addr=${h}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
