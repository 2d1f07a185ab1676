import * as path from 'node:path';
import type { Packet as Dns2Packet } from 'dns2';

/**
 * dns2's codec alone. Its package entry (`require('dns2')`) also loads its
 * UDP, TCP and DoH servers and its clients (http, https, tls…): about 80 ms
 * of a reading thread's start-up on a loaded machine, for nothing volt-dns
 * uses (docs/decisions/0010-dns-startup.md). The package's `exports` map
 * names only its entry and package.json, so the codec's file is found next
 * to the latter.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const Packet = require(path.join(path.dirname(require.resolve('dns2/package.json')), 'packet.js')) as typeof Dns2Packet;
