import * as fs from 'node:fs';
import { ConflictError, NotFoundError, UserInputError } from '@volt/sdk';
import type { PortForwardRecord, VoltState } from '../../state/types';
import { workloadViews } from '../attachments/workload-view';
import { attachmentsByWorkload, forwardTarget } from './firewall-compile';
import { PORT_AND_RULE_OPS, journaledRules, settleOwnPending } from './plans-firewall';
import { hostAddressesBoth, knownWorkload, workloadNotFound, type FirewallDeps } from './firewall-service';
import { parseIpFlag, parsePort, parseProto } from './firewall-input';
import { formatIPv6 } from '../../net/ipv6';

/**
 * Port forwards (`volt net port ...`): DNAT from a host port to a workload.
 * Connections reach it from outside, from the host itself (127.0.0.1 and its
 * addresses: an output-hook DNAT plus route_localnet on the bridge), and from
 * workloads on the target's own network through the host's address (hairpin
 * NAT). See docs/firewall.md.
 */

export interface PortRequest {
  hostPort?: number | string;
  hostIp?: string;
  proto?: string;
  target?: string;
  targetPort?: number | string;
}

export type PortStatus = 'active' | 'stopped' | 'no-address' | 'unknown-target';

export interface PortView extends PortForwardRecord {
  status: PortStatus;
  /** Where connections go now ("10.30.0.10:80"), when the target has an address. */
  targetAddress?: string;
  /** Where IPv6 connections go ("[fd00:30::a]:80"), when the target is on a dual-stack network. */
  targetAddress6?: string;
  /** Why it is not active, in words. */
  reason?: string;
}

/** A socket bound on the host, from /proc/net/{tcp,udp}{,6} of this network namespace. */
export interface BoundSocket {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  inode: number;
}

/**
 * Parse /proc/net/tcp-style text: TCP listeners (state 0A) and bound UDP
 * sockets. Addresses are hex in host byte order (IPv4) or as four such words
 * (IPv6); only what the conflict check needs is decoded.
 */
export function parseProcNet(text: string, proto: 'tcp' | 'udp', v6: boolean): BoundSocket[] {
  const out: BoundSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [addrHex, portHex] = (f[1] ?? '').split(':');
    const state = f[3];
    if (proto === 'tcp' && state !== '0A') continue;
    if (!addrHex || !portHex) continue;
    out.push({ proto, address: v6 ? decode6(addrHex) : decode4(addrHex), port: parseInt(portHex, 16), inode: Number(f[9]) });
  }
  return out;
}

function decode4(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function decode6(hex: string): string {
  if (/^0{32}$/.test(hex)) return '::';
  // ::ffff:a.b.c.d (IPv4-mapped): words 0-1 zero, word 2 is 0000FFFF (host order FFFF0000).
  if (/^0{16}FFFF0000/i.test(hex)) return decode4(hex.slice(24));
  // Four 32-bit words, each in host (little-endian) byte order.
  let n = 0n;
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const be = word.match(/../g)?.reverse().join('') ?? '0';
    n = (n << 32n) | BigInt(`0x${be}`);
  }
  return formatIPv6(n);
}

export function readBoundSockets(): BoundSocket[] {
  const out: BoundSocket[] = [];
  for (const [file, proto, v6] of [
    ['/proc/net/tcp', 'tcp', false],
    ['/proc/net/tcp6', 'tcp', true],
    ['/proc/net/udp', 'udp', false],
    ['/proc/net/udp6', 'udp', true],
  ] as const) {
    try {
      out.push(...parseProcNet(fs.readFileSync(file, 'utf8'), proto, v6));
    } catch {
      /* no IPv6, or no procfs: nothing bound there */
    }
  }
  return out;
}

/** A socket that would receive what the forward takes: same port, and an overlapping address. */
export function conflictingSocket(sockets: readonly BoundSocket[], proto: 'tcp' | 'udp', port: number, hostIp: string | undefined): BoundSocket | undefined {
  return sockets.find((s) => s.proto === proto && s.port === port && (hostIp === undefined || s.address === '0.0.0.0' || s.address === '::' || s.address === hostIp));
}

/** "sshd (pid 312)" for a socket inode, by looking through /proc/<pid>/fd; only on the error path. */
export function socketOwner(inode: number): string | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  const target = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === target) {
          const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
          return `${comm} (pid ${pid})`;
        }
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return undefined;
}

function forwardLabel(f: Pick<PortForwardRecord, 'hostIp' | 'hostPort' | 'proto'>): string {
  const host = f.hostIp === undefined ? '' : f.hostIp.includes(':') ? `[${f.hostIp}]:` : `${f.hostIp}:`;
  return `${host}${f.hostPort}/${f.proto}`;
}

export class PortService {
  constructor(private readonly d: FirewallDeps) {}

  list(): PortView[] {
    return this.views(this.d.store.read());
  }

  private views(state: VoltState): PortView[] {
    const byWorkload = attachmentsByWorkload(state);
    const live = new Map(workloadViews(state).map((w) => [w.name, w]));
    return [...state.portForwards]
      .sort((a, b) => a.hostPort - b.hostPort || (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0) || (a.hostIp ?? '').localeCompare(b.hostIp ?? ''))
      .map((f): PortView => {
        const w = live.get(f.target);
        const a = forwardTarget(f, byWorkload);
        const v4 = f.hostIp === undefined || !f.hostIp.includes(':');
        const targetAddress = a && v4 ? `${a.ip}:${f.targetPort}` : undefined;
        const t6 = a?.ip6 !== undefined && (f.hostIp === undefined || !v4) ? { targetAddress6: `[${a.ip6}]:${f.targetPort}` } : {};
        if (!w) return { ...f, status: 'unknown-target', reason: `no workload named "${f.target}"` };
        if (w.state !== 'running') return { ...f, status: 'stopped', ...(targetAddress ? { targetAddress } : {}), ...t6, reason: `${f.target} is ${w.state}` };
        if (!a) return { ...f, status: 'no-address', reason: `${f.target} is not connected to a network` };
        if (!v4 && a.ip6 === undefined) return { ...f, status: 'no-address', reason: `${f.target}'s network "${a.network}" has no IPv6 (the forward is on ${f.hostIp})` };
        return { ...f, status: 'active', ...(targetAddress ? { targetAddress } : {}), ...t6 };
      });
  }

  async add(req: PortRequest): Promise<{ forward: PortView; notes: string[] }> {
    const what = `forward port ${req.hostPort ?? '?'}`;
    const hostPort = parsePort(req.hostPort, '--host-port', what);
    const targetPort = parsePort(req.targetPort ?? hostPort, '--target-port', what);
    const proto = parseProto(req.proto ?? 'tcp', what, ['tcp', 'udp']) as 'tcp' | 'udp';
    const hostIp = parseIpFlag(req.hostIp, '--host-ip', what);
    if (req.target === undefined || req.target === '') throw new UserInputError(`${what}: --target is required`, { code: 'E_ARG_MISSING' });
    const target = req.target;
    const label = forwardLabel({ hostIp, hostPort, proto });
    const whatL = `forward port ${label} to ${target}:${targetPort}`;
    if (hostIp === '::1') {
      throw new UserInputError(`${whatL}: [::1] cannot be forwarded: the kernel never routes the IPv6 loopback address off the host (there is no route_localnet for IPv6)`, {
        code: 'E_FIREWALL_INPUT',
        suggestions: ['use --host-ip 127.0.0.1 for a forward only the host itself reaches', 'or one of the host\'s own IPv6 addresses'],
      });
    }
    if (hostIp !== undefined && !(await hostAddressesBoth()).includes(hostIp)) {
      throw new UserInputError(`${whatL}: ${hostIp} is not an address of this host`, { code: 'E_FIREWALL_INPUT', suggestions: ['omit --host-ip to forward on every address of the host'] });
    }
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, PORT_AND_RULE_OPS);
      if (!knownWorkload(state, target)) throw workloadNotFound(whatL, target, state);
      // An IPv6 host address needs a target with IPv6: its (first) network must be dual-stack.
      const first = attachmentsByWorkload(state).get(target)?.[0];
      if (hostIp !== undefined && hostIp.includes(':') && first !== undefined && state.networks[first.network]?.subnet6 === undefined) {
        throw new UserInputError(`${whatL}: ${hostIp} is IPv6, but ${target} is reached on network "${first.network}", which is IPv4-only`, {
          code: 'E_FIREWALL_INPUT',
          suggestions: [`use an IPv4 --host-ip, or omit it`, `or connect ${target} to a network with --subnet6 first`],
        });
      }
      const clash = state.portForwards.find((f) => f.proto === proto && f.hostPort === hostPort && (f.hostIp === undefined || hostIp === undefined || f.hostIp === hostIp));
      if (clash) {
        throw new ConflictError(`${whatL}: host port ${forwardLabel(clash)} is already forwarded to ${clash.target}:${clash.targetPort}`, {
          code: 'E_PORT_FORWARDED',
          suggestions: [`delete it first (volt net port delete --host-port ${clash.hostPort}${clash.proto === 'udp' ? ' --proto udp' : ''}${clash.hostIp ? ` --host-ip ${clash.hostIp}` : ''}) or pick another host port`],
        });
      }
      const sock = conflictingSocket(readBoundSockets(), proto, hostPort, hostIp);
      if (sock) {
        const owner = socketOwner(sock.inode);
        throw new ConflictError(`${whatL}: host port ${hostPort}/${proto} is already ${proto === 'tcp' ? 'listened on' : 'bound'} by ${owner ?? 'a process'} (${sock.address}:${sock.port})`, {
          code: 'E_PORT_IN_USE',
          suggestions: ['stop that service or pick another --host-port', 'the forward would take its connections away from it'],
        });
      }
      const rec: PortForwardRecord = {
        hostPort,
        ...(hostIp === undefined ? {} : { hostIp }),
        proto,
        target,
        targetPort,
        createdAt: new Date().toISOString(),
      };
      const notes = await journaledRules(this.d, state, 'port-add', `port forward ${label}`, whatL, ['portForwards'], () => {
        state.portForwards.push(rec);
      });
      const view = this.views(state).find((v) => v.proto === proto && v.hostPort === hostPort && v.hostIp === hostIp)!;
      if (view.status !== 'active') notes.push(`${view.reason ?? view.status}: the forward is in place and starts working when ${target} runs with an address`);
      return { forward: view, notes };
    });
  }

  async delete(req: { hostPort?: number | string; proto?: string; hostIp?: string }): Promise<PortForwardRecord> {
    const what = `delete port forward ${req.hostPort ?? '?'}`;
    const hostPort = parsePort(req.hostPort, '--host-port', what);
    const proto = parseProto(req.proto ?? 'tcp', what, ['tcp', 'udp']) as 'tcp' | 'udp';
    const hostIp = parseIpFlag(req.hostIp, '--host-ip', what);
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, PORT_AND_RULE_OPS);
      const matches = state.portForwards.filter((f) => f.hostPort === hostPort && f.proto === proto && (hostIp === undefined || f.hostIp === hostIp));
      const label = forwardLabel({ hostIp, hostPort, proto });
      if (matches.length === 0) {
        throw new NotFoundError(`delete port forward ${label}: no such forward`, {
          code: 'E_FORWARD_NOT_FOUND',
          suggestions: [state.portForwards.length > 0 ? '`volt net port list` shows the forwards' : 'there are no port forwards'],
        });
      }
      if (matches.length > 1) {
        throw new UserInputError(`delete port forward ${label}: ${matches.length} forwards use this port; say which with --host-ip`, { code: 'E_AMBIGUOUS' });
      }
      const gone = matches[0]!;
      await journaledRules(this.d, state, 'port-delete', `port forward ${forwardLabel(gone)}`, `delete port forward ${forwardLabel(gone)}`, ['portForwards'], () => {
        state.portForwards = state.portForwards.filter((f) => f !== gone);
      });
      return gone;
    });
  }
}
