/**
 * The hostile host of the DNS flood benchmark, in its own process so that making and sending
 * the packets costs the measured event loop nothing: it sends `rate` packets per second to
 * 127.0.0.1:`port` for `seconds`, in bursts every 10 ms, cycling through the packets that
 * stalled dns-packet (issue 7, D1), random header counts, truncated answers and garbage.
 *
 *   node dns-flooder.js PORT RATE SECONDS   → prints the number of packets sent
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';

const [port, rate, seconds] = process.argv.slice(2).map(Number) as [number, number, number];

const answer = dnsPacket.encode({
  type: 'response',
  answers: [
    { name: '_airplay._tcp.local', type: 'PTR', ttl: 120, data: 'Flood._airplay._tcp.local' },
    { name: 'Flood._airplay._tcp.local', type: 'TXT', ttl: 120, data: ['deviceid=AA:BB:CC:DD:EE:FF', 'model=AppleTV6,2'] },
  ],
});

function hostile(i: number): Buffer {
  switch (i % 4) {
    case 0:
      return Buffer.from('000084000000ffffffffffff00001000010000007800ff00', 'hex');
    case 1: {
      const header = randomBytes(12 + (i % 32));
      header.writeUInt16BE(0x8400, 2);
      return header;
    }
    case 2:
      return answer.subarray(0, 12 + ((i * 7) % (answer.length - 12)));
    default:
      return randomBytes(12 + ((i * 13) % 500));
  }
}

const socket = dgram.createSocket('udp4');
const perTick = Math.max(1, Math.round(rate / 100));
const end = Date.now() + seconds * 1000;
let sent = 0;
const timer = setInterval(() => {
  if (Date.now() >= end) {
    clearInterval(timer);
    socket.close(() => console.log(String(sent)));
    return;
  }
  for (let k = 0; k < perTick; k++) socket.send(hostile(sent++), port, '127.0.0.1');
}, 10);
