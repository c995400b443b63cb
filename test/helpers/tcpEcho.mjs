// One-shot TCP echo for connectivity checks between pod namespaces.
//   node tcpEcho.mjs server <ip> <port>   prints "ready", echoes one connection, prints
//                                         "from <client address>", exits
//   node tcpEcho.mjs client <ip> <port>   exits 0 when the echo comes back within 3 s
import net from 'node:net';

const [mode, host, portText] = process.argv.slice(2);
const port = Number(portText);
if (mode === 'server') {
  const server = net.createServer((socket) => {
    process.stdout.write(`from ${socket.remoteAddress}\n`);
    socket.pipe(socket);
    socket.on('close', () => server.close());
  });
  server.listen(port, host, () => process.stdout.write('ready\n'));
} else {
  const timer = setTimeout(() => process.exit(2), 3000);
  const socket = net.connect(port, host, () => socket.write('weft'));
  socket.on('data', (data) => {
    clearTimeout(timer);
    process.exit(data.toString() === 'weft' ? 0 : 1);
  });
  socket.on('error', () => process.exit(1));
}
