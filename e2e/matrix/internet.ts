// The stand-in "internet" host, run by Node (type stripping) inside the namespace beyond the
// pool's uplink: an HTTP server on 0.0.0.0:80 and a UDP probe responder on 0.0.0.0:<port>.
// Every request is one JSON line on stdout, so the test knows who reached it and from where.
//
//   node e2e/matrix/internet.ts <udp-address> <udp-port>
//
// The UDP responder binds the one address the guests send to: bound to 0.0.0.0 its replies
// would leave from the address of the route back (the veth end), which NAT does not map to
// the guest's flow, so the guest would never see them.
import { createServer } from 'node:http';
import { startUdpResponder } from '../src/responders.ts';

const udpHost = process.argv[2] ?? '0.0.0.0';
const udpPort = Number(process.argv[3] ?? 6969);
const log = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(entry)}\n`);

const server = createServer((req, res) => {
  const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const path = new URL(req.url ?? '/', 'http://internet').pathname;
  log({ proto: 'http', path, from, to: req.socket.localAddress?.replace(/^::ffff:/, '') });
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`internet-ok from=${from} path=${path}`);
});
server.listen(80, '0.0.0.0', () => {
  void startUdpResponder({
    host: udpHost,
    port: udpPort,
    onRequest: (d) => log({ proto: 'udp', name: d.name, from: d.from }),
  }).then((udp) => log({ ready: true, udpPort: udp.port }));
});
