import test from 'ava';
import { conflictingSocket, parseProcNet } from '@volt/core/dist/services/firewall/port-service';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 100 0 0 10 0
   2: 0100A8C0:0050 0200A8C0:C350 01 00000000:00000000 00:00000000 00000000     0        0 12347 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22222 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22223 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100000A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 33333 2 0000000000000000 0
`;

test('listening TCP sockets (state 0A only) and bound UDP sockets, IPv4 and IPv6', (t) => {
  t.deepEqual(parseProcNet(TCP, 'tcp', false), [
    { proto: 'tcp', address: '0.0.0.0', port: 22, inode: 12345 },
    { proto: 'tcp', address: '127.0.0.1', port: 8080, inode: 12346 },
  ]);
  t.deepEqual(parseProcNet(TCP6, 'tcp', true), [
    { proto: 'tcp', address: '::', port: 8081, inode: 22222 },
    { proto: 'tcp', address: '127.0.0.1', port: 8082, inode: 22223 },
  ]);
  t.deepEqual(parseProcNet(UDP, 'udp', false), [{ proto: 'udp', address: '10.0.0.1', port: 53, inode: 33333 }]);
});

test('a forward conflicts with a socket on the same port and an overlapping address', (t) => {
  const s = [...parseProcNet(TCP, 'tcp', false), ...parseProcNet(TCP6, 'tcp', true), ...parseProcNet(UDP, 'udp', false)];
  t.is(conflictingSocket(s, 'tcp', 22, undefined)?.inode, 12345);
  t.is(conflictingSocket(s, 'tcp', 22, '198.18.0.1')?.inode, 12345, 'a wildcard listener takes every address');
  t.is(conflictingSocket(s, 'tcp', 8080, undefined)?.inode, 12346, 'a forward on every address also takes 127.0.0.1');
  t.is(conflictingSocket(s, 'tcp', 8080, '198.18.0.1'), undefined, 'but a forward on another address does not');
  t.is(conflictingSocket(s, 'tcp', 8081, '198.18.0.1')?.inode, 22222, 'an IPv6 wildcard listener counts');
  t.is(conflictingSocket(s, 'udp', 22, undefined), undefined, 'other protocol');
  t.is(conflictingSocket(s, 'udp', 53, '10.0.0.1')?.inode, 33333);
  t.is(conflictingSocket(s, 'tcp', 80, undefined), undefined, 'an established connection is not a listener');
});
