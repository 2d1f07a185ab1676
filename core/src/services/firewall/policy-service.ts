import { ConflictError, DriverError, NotFoundError, UserInputError } from '@volt/sdk';
import type { BridgeFiltering } from '@volt/sdk';
import type { AttachmentRecord, PolicyRecord, VoltState } from '../../state/types';
import { addressesOf, attachmentsByWorkload, compileRuleSet } from './firewall-compile';
import { PORT_AND_RULE_OPS, journaledRules, settleOwnPending } from './plans-firewall';
import { knownWorkload, parseListFile, portsText, str, workloadNotFound, type FirewallDeps } from './firewall-service';
import { expandPorts, formatPorts, parseAction, parseName, parsePorts, parseProto, WORKLOAD_NAME } from './firewall-input';
import { evaluate, flowLabel, verdictLine, verdictReason, type Decider, type Flow } from './policy-eval';

/**
 * Network policies (`volt net policy ...`): which workloads may open
 * connections to which, like a Kubernetes NetworkPolicy on ingress. A
 * workload that any policy targets (--to) accepts new connections only as its
 * policies allow; deny beats allow; workloads without policies keep the
 * default policy. Policies are set elements in the kernel (keyed by address,
 * protocol and port), so the forward path's cost does not grow with them.
 */

export interface PolicyRequest {
  name?: string;
  from?: string;
  to?: string;
  port?: string;
  proto?: string;
  action?: string;
}

export interface PolicyView extends PolicyRecord {
  fromAddresses?: string[];
  toAddresses: string[];
}

export interface TestRequest {
  from: string[];
  to: string[];
  ports: number[];
  proto: 'tcp' | 'udp' | 'icmp';
  /** The address family of the connection (default 4); 6 uses the workloads' IPv6 addresses. */
  family?: 4 | 6;
}

export interface TestResult {
  from: string;
  to: string;
  proto: 'tcp' | 'udp' | 'icmp';
  port?: number;
  /** The addresses the connection would use. */
  src?: string;
  dst?: string;
  sameNetwork: boolean;
  family: 4 | 6;
  verdict: 'ALLOWED' | 'DENIED';
  decidedBy: Decider | { kind: 'no-address'; workload: string };
  /** The spec's line: `✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)`. */
  line: string;
  reason: string;
}

export interface PolicyDeps extends FirewallDeps {
  /** For `test`: does each bridge hand its traffic to the IPv4 hooks (br_netfilter)? */
  bridgeFiltering?(bridges: string[]): Promise<BridgeFiltering[]>;
  /** The active bridge driver's name when its switch bypasses netfilter (BridgeDriver.filtersSwitchedTraffic false). */
  unfilteredBridgeDriver?(): Promise<string | undefined>;
  /** The active bridge driver's name when it enforces the policies inside its networks itself (capability switched-policies). */
  switchedPolicyDriver?(): Promise<string | undefined>;
}

const ACTIONS = ['allow', 'deny'] as const;

function policyKey(p: Pick<PolicyRecord, 'from' | 'to' | 'ports' | 'proto' | 'action'>): string {
  return JSON.stringify([p.from, p.to, [...p.ports].sort(), p.proto, p.action]);
}

export class PolicyService {
  constructor(private readonly d: PolicyDeps) {}

  private validate(state: VoltState, req: PolicyRequest, what: string): Omit<PolicyRecord, 'createdAt'> {
    const name = parseName(req.name, what, 'policy');
    if (req.to === undefined || req.to === '') throw new UserInputError(`${what}: --to is required (the workload the policy protects)`, { code: 'E_ARG_MISSING' });
    const from = req.from === undefined || req.from === '' ? 'any' : req.from;
    for (const [flag, w] of [['--from', from], ['--to', req.to]] as const) {
      if (flag === '--from' && w === 'any') continue;
      if (!WORKLOAD_NAME.test(w) || /^[\d./]+$/.test(w)) {
        throw new UserInputError(`${what}: ${flag} "${w}" is not a workload name`, {
          code: 'E_FIREWALL_INPUT',
          suggestions: ['policies name workloads (use a firewall rule for addresses and subnets)'],
        });
      }
      if (!knownWorkload(state, w)) throw workloadNotFound(what, w, state);
    }
    const proto = parseProto(req.proto ?? 'tcp', what);
    const ranges = parsePorts(req.port, what);
    if (proto === 'icmp' && ranges.length > 0) throw new UserInputError(`${what}: icmp has no ports`, { code: 'E_FIREWALL_INPUT' });
    expandPorts(ranges, what);
    const action = parseAction(req.action ?? 'allow', ACTIONS, what);
    return { name, from, to: req.to, ports: formatPorts(ranges), proto, action };
  }

  async create(req: PolicyRequest): Promise<{ policy: PolicyRecord; notes: string[] }> {
    const what = `create policy "${req.name ?? ''}"`;
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, PORT_AND_RULE_OPS);
      const rec = this.validate(state, req, what);
      const unfiltered = this.d.unfilteredBridgeDriver ? await this.d.unfilteredBridgeDriver() : undefined;
      if (unfiltered !== undefined) {
        throw new DriverError(
          `${what}: the bridge driver "${unfiltered}" switches traffic between the ports of a network without netfilter, so volt cannot enforce a policy between workloads on the same network`,
          {
            code: 'E_DRIVER_UNSUPPORTED',
            suggestions: [
              'use a bridge driver whose bridges pass netfilter (drivers.bridge: direct or networkd), or put the workloads on different networks and use `volt net firewall add` rules, which are routed',
              'see docs/drivers.md (Open vSwitch)',
            ],
          },
        );
      }
      if (state.policies[rec.name]) {
        throw new ConflictError(`${what}: a policy with this name exists`, {
          code: 'E_POLICY_EXISTS',
          suggestions: ['`volt net policy list` shows the policies', `delete it first (volt net policy delete --name ${rec.name}) or pick another name`],
        });
      }
      const key = policyKey(rec);
      const same = Object.values(state.policies).find((p) => policyKey(p) === key);
      if (same) throw new ConflictError(`${what}: policy "${same.name}" already does exactly this`, { code: 'E_POLICY_DUPLICATE' });
      const policy: PolicyRecord = { ...rec, createdAt: new Date().toISOString() };
      const firstForTarget = !Object.values(state.policies).some((p) => p.to === rec.to);
      const notes = await journaledRules(this.d, state, 'firewall-apply', `policy "${rec.name}"`, what, ['policies'], () => {
        state.policies[rec.name] = policy;
      });
      if (firstForTarget) notes.push(`${rec.to} is now isolated: it accepts new connections only as its policies allow`);
      return { policy, notes };
    });
  }

  async delete(name: string): Promise<PolicyRecord> {
    const what = `delete policy "${name}"`;
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, PORT_AND_RULE_OPS);
      const p = state.policies[name];
      if (!p) {
        const names = Object.keys(state.policies);
        throw new NotFoundError(`${what}: no such policy`, {
          code: 'E_POLICY_NOT_FOUND',
          suggestions: [names.length > 0 ? `policies: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}` : 'there are no policies'],
        });
      }
      await journaledRules(this.d, state, 'firewall-apply', `policy "${name}"`, what, ['policies'], () => {
        delete state.policies[name];
      });
      return p;
    });
  }

  /** Replace every policy with `reqs` in one transaction (the bulk path). */
  async replace(reqs: PolicyRequest[], source: string): Promise<{ count: number; notes: string[] }> {
    return this.d.store.transaction(async (state) => {
      await settleOwnPending(this.d.store, state, this.d, PORT_AND_RULE_OPS);
      const next: Record<string, PolicyRecord> = {};
      const keys = new Map<string, string>();
      const now = new Date().toISOString();
      reqs.forEach((req, i) => {
        const what = `${source}: policy ${i + 1}${req.name ? ` ("${req.name}")` : ''}`;
        const rec = this.validate(state, req, what);
        if (next[rec.name]) throw new ConflictError(`${what}: the name "${rec.name}" is used twice`, { code: 'E_POLICY_EXISTS' });
        const key = policyKey(rec);
        const same = keys.get(key);
        if (same !== undefined) throw new ConflictError(`${what}: policy "${same}" already does exactly this`, { code: 'E_POLICY_DUPLICATE' });
        keys.set(key, rec.name);
        next[rec.name] = { ...rec, createdAt: now };
      });
      const notes = await journaledRules(this.d, state, 'firewall-apply', `policies from ${source}`, `apply policies from ${source}`, ['policies'], () => {
        state.policies = next;
      });
      return { count: reqs.length, notes };
    });
  }

  list(): PolicyView[] {
    const state = this.d.store.read();
    const byWorkload = attachmentsByWorkload(state);
    return Object.values(state.policies)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((p) => ({
        ...p,
        ...(p.from === 'any' ? {} : { fromAddresses: addressesOf(byWorkload, p.from) }),
        toAddresses: addressesOf(byWorkload, p.to),
      }));
  }

  /** Every (from, to, port) of the request, judged as the kernel would judge a new connection. */
  async test(req: TestRequest): Promise<TestResult[]> {
    const what = 'test connectivity';
    const state = this.d.store.read();
    for (const w of [...req.from, ...req.to]) if (!knownWorkload(state, w)) throw workloadNotFound(what, w, state);
    if (req.proto !== 'icmp' && req.ports.length === 0) throw new UserInputError(`${what}: --port is required for ${req.proto}`, { code: 'E_ARG_MISSING' });
    if (req.proto === 'icmp' && req.ports.length > 0) throw new UserInputError(`${what}: icmp has no ports`, { code: 'E_FIREWALL_INPUT' });
    const rs = compileRuleSet(state);
    const byWorkload = attachmentsByWorkload(state);
    const bridges = [...new Set(state.attachments.map((a) => state.networks[a.network]?.bridge).filter((b): b is string => b !== undefined))];
    const switchedBy = this.d.switchedPolicyDriver ? await this.d.switchedPolicyDriver() : undefined;
    // A switch that enforces policies itself: netfilter's view of its bridges does not matter.
    const filtering = new Map((this.d.bridgeFiltering && switchedBy === undefined ? await this.d.bridgeFiltering(bridges) : []).map((f) => [f.bridge, f]));
    const out: TestResult[] = [];
    const ports: (number | undefined)[] = req.proto === 'icmp' ? [undefined] : req.ports;
    const family = req.family ?? 4;
    const v6 = family === 6 ? ' IPv6' : '';
    for (const from of req.from) {
      for (const to of req.to) {
        const path = pathBetween(state, from, byWorkload.get(from) ?? [], to, byWorkload.get(to) ?? [], family);
        for (const port of ports) {
          const label = flowLabel(from, to, req.proto, port);
          if (!path.ok) {
            const line = `✗ ${label} — DENIED (${path.missing} has no${v6} address)`;
            const reason = family === 6 ? `${path.missing} has no IPv6 address (it is on no dual-stack network)` : `${path.missing} is not connected to any network`;
            out.push({ from, to, proto: req.proto, port, sameNetwork: false, family, verdict: 'DENIED', decidedBy: { kind: 'no-address', workload: path.missing }, line, reason });
            continue;
          }
          const f = filtering.get(path.bridge);
          const flow: Flow = {
            src: path.src,
            dst: path.dst,
            proto: req.proto,
            port,
            inBridge: path.inBridge,
            sameNetwork: path.sameNetwork,
            // Without a probe (a driver that cannot tell), assume the hooks see the traffic.
            bridgeFiltered: (family === 6 ? f?.filtered6 : f?.filtered) ?? true,
            bridgeFilterReason: family === 6 ? f?.reason6 : f?.reason,
            ...(switchedBy !== undefined && path.sameNetwork ? { switchedBy } : {}),
          };
          const v = evaluate(rs, flow);
          out.push({
            from,
            to,
            proto: req.proto,
            port,
            src: path.src,
            dst: path.dst,
            sameNetwork: path.sameNetwork,
            family,
            verdict: v.allowed ? 'ALLOWED' : 'DENIED',
            decidedBy: v.decidedBy,
            line: verdictLine(label, v),
            reason: verdictReason(to, v),
          });
        }
      }
    }
    return out;
  }
}

type Path = { ok: true; src: string; dst: string; sameNetwork: boolean; bridge: string; inBridge: string } | { ok: false; missing: string };

/**
 * The addresses a connection from one workload to another uses: over a
 * network they share (switched by its bridge), else from the source's first
 * network (its default route) to the destination's first address (routed).
 */
export function pathBetween(
  state: VoltState,
  fromName: string,
  fromAll: readonly AttachmentRecord[],
  toName: string,
  toAll: readonly AttachmentRecord[],
  family: 4 | 6 = 4,
): Path {
  // IPv6: only the attachments that have an IPv6 address (on dual-stack networks) take part.
  const from = family === 4 ? fromAll : fromAll.filter((x) => x.ip6 !== undefined);
  const to = family === 4 ? toAll : toAll.filter((x) => x.ip6 !== undefined);
  const addr = (x: AttachmentRecord): string => (family === 4 ? x.ip : (x.ip6 as string));
  const a = from[0];
  const b = to[0];
  if (!a) return { ok: false, missing: fromName };
  if (!b) return { ok: false, missing: toName };
  for (const x of from) {
    const y = to.find((t) => t.network === x.network);
    if (y) {
      const bridge = state.networks[x.network]?.bridge ?? '';
      return { ok: true, src: addr(x), dst: addr(y), sameNetwork: true, bridge, inBridge: bridge };
    }
  }
  const inBridge = state.networks[a.network]?.bridge ?? '';
  return { ok: true, src: addr(a), dst: addr(b), sameNetwork: false, bridge: inBridge, inBridge };
}

/** Policies from a YAML or JSON file: `policies: [{name, from, to, port, proto, action}]` (or a bare list). */
export function parsePolicyFile(text: string, file: string): PolicyRequest[] {
  return parseListFile(text, file, 'policies', ['name', 'from', 'to', 'port', 'ports', 'proto', 'action']).map((o) => ({
    name: str(o.name),
    from: str(o.from),
    to: str(o.to),
    port: portsText(o.port ?? o.ports),
    proto: str(o.proto),
    action: str(o.action),
  }));
}
