/**
 * The ioctl request numbers volt passes to the kernel, checked three ways:
 * against numbers written out from the kernel's uapi headers (linux/if_tun.h,
 * linux/vhost.h on x86-64), against the header files of this machine when
 * present (each macro names the same direction, type, number and argument),
 * and — when a C compiler is there — against what the C preprocessor makes of them.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_VNET_HDR,
  IFREQ_SIZE,
  TUNGETIFF,
  TUNSETIFF,
  TUNSETPERSIST,
  TUNSETQUEUE,
  TUNSETVNETHDRSZ,
  VHOST_REQUESTS,
  VHOST_STRUCT_SIZES,
  decodeIfreqName,
  encodeIfreq,
  ioc,
  tapFlags,
} from '@volt/native';

const TUN: Record<string, number> = { TUNSETIFF, TUNSETPERSIST, TUNGETIFF, TUNSETVNETHDRSZ, TUNSETQUEUE };

/** The values the kernel's headers give on x86-64 (checked with gcc against linux-libc-dev 6.1). */
const KNOWN: Record<string, number> = {
  TUNSETIFF: 0x400454ca,
  TUNSETPERSIST: 0x400454cb,
  TUNGETIFF: 0x800454d2,
  TUNSETVNETHDRSZ: 0x400454d8,
  TUNSETQUEUE: 0x400454d9,
  VHOST_GET_FEATURES: 0x8008af00,
  VHOST_SET_FEATURES: 0x4008af00,
  VHOST_SET_OWNER: 0x0000af01,
  VHOST_RESET_OWNER: 0x0000af02,
  VHOST_SET_MEM_TABLE: 0x4008af03,
  VHOST_SET_LOG_BASE: 0x4008af04,
  VHOST_SET_LOG_FD: 0x4004af07,
  VHOST_SET_VRING_NUM: 0x4008af10,
  VHOST_SET_VRING_ADDR: 0x4028af11,
  VHOST_SET_VRING_BASE: 0x4008af12,
  VHOST_GET_VRING_BASE: 0xc008af12,
  VHOST_SET_VRING_KICK: 0x4008af20,
  VHOST_SET_VRING_CALL: 0x4008af21,
  VHOST_SET_VRING_ERR: 0x4008af22,
  VHOST_NET_SET_BACKEND: 0x4008af30,
};

const ALL: Record<string, number> = { ...TUN, ...VHOST_REQUESTS };

test('every request number equals the kernel header value', (t) => {
  t.deepEqual(Object.keys(ALL).sort(), Object.keys(KNOWN).sort());
  for (const [name, value] of Object.entries(ALL)) t.is(value, KNOWN[name], `${name} = 0x${value.toString(16)}`);
});

test('_IOC layout: dir << 30 | size << 16 | type << 8 | nr', (t) => {
  t.is(ioc(1, 0x54, 202, 4), 0x400454ca);
  t.is(ioc(3, 0xaf, 0x12, 8), 0xc008af12);
  t.is(ioc(0, 0xaf, 0x01, 0), 0xaf01);
  t.true(ioc(2, 0xaf, 0, 8) > 0, 'read requests stay positive (unsigned)');
});

/** Struct sizes as the C compiler sees them: the argument size is part of the request number. */
const C_SIZES: Record<string, string> = {
  u64: '__u64',
  int: 'int',
  vhost_memory: 'struct vhost_memory',
  vhost_vring_state: 'struct vhost_vring_state',
  vhost_vring_file: 'struct vhost_vring_file',
  vhost_vring_addr: 'struct vhost_vring_addr',
};

test('this machine’s headers define each request with the same direction, type, number and argument', (t) => {
  const files = ['/usr/include/linux/if_tun.h', '/usr/include/linux/vhost.h'].filter((f) => fs.existsSync(f));
  if (files.length < 2) {
    t.log('linux-libc-dev headers not installed: compared with the recorded values only');
    t.pass();
    return;
  }
  const text = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const sizes: Record<string, number> = { int: 4, 'unsigned int': 4, __u64: 8, ...Object.fromEntries(Object.entries(C_SIZES).map(([k, c]) => [c, VHOST_STRUCT_SIZES[k as keyof typeof VHOST_STRUCT_SIZES]])) };
  for (const [name, value] of Object.entries(ALL)) {
    const m = new RegExp(`#define\\s+${name}\\s+_IO(R|W|WR)?\\(\\s*([^,)]+)\\s*,\\s*([^,)]+)\\s*(?:,\\s*([^)]+?)\\s*)?\\)`).exec(text);
    if (!m) {
      t.fail(`${name} not found in ${files.join(', ')}`);
      continue;
    }
    const dir = m[1] === 'R' ? 2 : m[1] === 'W' ? 1 : m[1] === 'WR' ? 3 : 0;
    const type = m[2] === 'VHOST_VIRTIO' ? 0xaf : m[2]!.startsWith("'") ? m[2]!.charCodeAt(1) : Number(m[2]);
    const nr = Number(m[3]);
    const size = m[4] === undefined ? 0 : sizes[m[4]];
    t.not(size, undefined, `${name}: unknown argument type ${m[4]}`);
    t.is(ioc(dir, type, nr, size ?? 0), value, `${name}: header says _IO${m[1] ?? ''}(${m[2]}, ${m[3]}${m[4] ? `, ${m[4]}` : ''})`);
  }
});

test('the C preprocessor agrees (when a compiler is installed)', (t) => {
  let cc: string | undefined;
  for (const c of ['cc', 'gcc']) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      cc = c;
      break;
    } catch {
      /* next */
    }
  }
  if (!cc || !fs.existsSync('/usr/include/linux/vhost.h')) {
    t.log('no C compiler or headers: skipped the compiler check');
    t.pass();
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-ioctl-'));
  try {
    const names = Object.keys(ALL);
    const src = [
      '#include <stdio.h>',
      '#include <linux/if_tun.h>',
      '#include <linux/vhost.h>',
      'int main(void) {',
      ...names.map((n) => `  printf("%s %lu\\n", "${n}", (unsigned long)(${n}));`),
      ...Object.entries(C_SIZES).map(([k, c]) => `  printf("sizeof_${k} %lu\\n", (unsigned long)sizeof(${c}));`),
      '  printf("sizeof_ifreq_min %lu\\n", 40ul);',
      '  return 0;',
      '}',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'n.c'), src);
    execFileSync(cc, ['-o', path.join(dir, 'n'), path.join(dir, 'n.c')]);
    const out = execFileSync(path.join(dir, 'n'), { encoding: 'utf8' });
    const got = Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    for (const n of names) t.is(Number(got[n]), ALL[n], n);
    for (const k of Object.keys(C_SIZES)) t.is(Number(got[`sizeof_${k}`]), VHOST_STRUCT_SIZES[k as keyof typeof VHOST_STRUCT_SIZES], `sizeof ${k}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ifreq: 40 bytes, name NUL-terminated in the first 16, flags little-endian at 16', (t) => {
  const req = encodeIfreq('tap-0123456789', IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
  t.is(req.length, IFREQ_SIZE);
  t.is(decodeIfreqName(req), 'tap-0123456789');
  t.is(req.readUInt16LE(16), 0x5002);
  t.throws(() => encodeIfreq('0123456789abcdef', 0), { message: /not 1-15 bytes/ });
  t.throws(() => encodeIfreq('', 0), { instanceOf: RangeError });
  t.throws(() => encodeIfreq('a/b', 0), { instanceOf: RangeError });
});

test('TAP flags: vnet_hdr and no PI always; multi-queue for more than one queue or when asked (networkd TAPs)', (t) => {
  t.is(tapFlags({ queues: 1, vnetHdr: true }), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
  t.is(tapFlags({ queues: 4, vnetHdr: true }), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE);
  t.is(tapFlags({ queues: 1, vnetHdr: true, multiQueue: true }), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE);
});
