/**
 * Which sysctls `volt tune` is about: the scope it may write, the keys `tune net
 * show` reports, and the facts the error messages need.
 */

/**
 * volt writes only keys under net.*: a networking tool must not change vm.*, kernel.*
 * or fs.* behind the operator's back. Reading (`tune sysctl get`) works for any key.
 */
export const WRITABLE_TREE = 'net';

/** What `volt tune net show` reports, in this order, with a word on each. */
export const NETWORK_KEYS: { key: string; about: string }[] = [
  { key: 'net.core.rmem_max', about: 'largest receive buffer a socket may ask for (SO_RCVBUF)' },
  { key: 'net.core.wmem_max', about: 'largest send buffer a socket may ask for (SO_SNDBUF)' },
  { key: 'net.core.rmem_default', about: 'receive buffer of a new socket' },
  { key: 'net.core.wmem_default', about: 'send buffer of a new socket' },
  { key: 'net.core.optmem_max', about: 'ancillary buffer per socket' },
  { key: 'net.ipv4.tcp_rmem', about: 'TCP receive buffer: min default max (autotuning)' },
  { key: 'net.ipv4.tcp_wmem', about: 'TCP send buffer: min default max (autotuning)' },
  { key: 'net.core.somaxconn', about: 'largest listen() backlog' },
  { key: 'net.ipv4.tcp_max_syn_backlog', about: 'half-open connections per listener' },
  { key: 'net.core.netdev_max_backlog', about: 'packets queued per CPU before the stack (global)' },
  { key: 'net.ipv4.ip_forward', about: 'route IPv4 between interfaces (needed for NAT)' },
  { key: 'net.ipv6.conf.all.forwarding', about: 'route IPv6 between interfaces' },
  { key: 'net.ipv4.ip_local_port_range', about: 'ephemeral ports for outgoing connections' },
  { key: 'net.ipv4.tcp_congestion_control', about: 'TCP congestion control algorithm' },
];

/**
 * net.* keys the kernel keeps once for the whole machine: it shows them only in the
 * root network namespace (checked on 6.x). Used to explain why such a key is
 * "missing" when volt runs in another namespace.
 */
export const GLOBAL_NET_KEYS = new Set([
  'net.core.netdev_max_backlog',
  'net.core.netdev_budget',
  'net.core.netdev_budget_usecs',
  'net.core.dev_weight',
  'net.core.dev_weight_rx_bias',
  'net.core.dev_weight_tx_bias',
  'net.core.busy_poll',
  'net.core.busy_read',
  'net.core.default_qdisc',
  'net.core.rps_sock_flow_entries',
  'net.core.flow_limit_table_len',
  'net.core.flow_limit_cpu_bitmap',
  'net.core.gro_normal_batch',
  'net.core.max_skb_frags',
  'net.core.bpf_jit_enable',
  'net.core.bpf_jit_harden',
  'net.core.bpf_jit_kallsyms',
  'net.core.bpf_jit_limit',
  'net.core.message_cost',
  'net.core.message_burst',
  'net.core.netdev_tstamp_prequeue',
  'net.core.netdev_rss_key',
  'net.core.warnings',
  'net.core.skb_defer_max',
  'net.core.high_order_alloc_disable',
  'net.core.mem_pcpu_rsv',
  'net.ipv4.tcp_mem',
  'net.ipv4.udp_mem',
]);

/**
 * Keys whose value is a byte count: `tune sysctl set` also accepts sizes with K/M/G
 * for them (16M = 16777216).
 */
export const BYTE_SIZE_KEYS = new Set(['net.core.rmem_max', 'net.core.wmem_max', 'net.core.rmem_default', 'net.core.wmem_default', 'net.core.optmem_max']);

/** Up to `n` names from `candidates` that look like `wanted` (typos, a missing prefix, a part of the name). */
export function nearMatches(wanted: string, candidates: string[], n = 3): string[] {
  const w = wanted.toLowerCase();
  const last = (s: string): string => s.split(/[./]/).pop() ?? s;
  const wl = last(w);
  const scored: { key: string; score: number }[] = [];
  for (const c of candidates) {
    const cl = c.toLowerCase();
    const full = distance(w, cl);
    const leaf = distance(wl, last(cl));
    let score = Math.min(full, leaf + 1);
    // "rmem" → rmem_max/rmem_default, "tcp_rmem_max" → tcp_rmem
    if (wl.length >= 4 && (last(cl).startsWith(wl) || wl.startsWith(last(cl)))) score = Math.min(score, 1.5);
    const limit = Math.max(2, Math.floor(wl.length / 3));
    if (score <= limit) scored.push({ key: c, score });
  }
  scored.sort((a, b) => a.score - b.score || a.key.length - b.key.length || (a.key < b.key ? -1 : 1));
  // Only the closest: "rmem_maks" is rmem_max, not wmem_max as well.
  const best = scored[0]?.score ?? 0;
  return [...new Set(scored.filter((s) => s.score <= best + 0.5).map((s) => s.key))].slice(0, n);
}

/** Levenshtein distance, with an early exit for strings far apart in length. */
export function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Math.abs(a.length - b.length);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
