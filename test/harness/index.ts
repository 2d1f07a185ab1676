/**
 * Test harness for volt: sandbox hosts in their own network namespaces (with
 * optional real systemd-networkd), containers, an "outside" that plays the
 * internet, and probes. Nothing is ever done in the machine's root network
 * namespace; everything made is removed on destroy, on test teardown, and on
 * process exit (including SIGINT/SIGTERM).
 */
export { REPO_ROOT, VOLT_BIN, NETWORKD_SANDBOX_SCRIPT } from './paths';
export {
  BackgroundProcess,
  DEFAULT_EXEC_TIMEOUT_MS,
  HarnessError,
  describeCommand,
  formatResult,
  run,
  runOk,
  sanitizeEnv,
  sleep,
  waitFor,
  type RunOptions,
  type RunResult,
  type WaitForOptions,
} from './run';
export {
  ContainerNs,
  HARNESS_NETNS_RE,
  Netns,
  OutsideNs,
  RUN_PREFIX,
  cleanupLeftovers,
  createNetns,
  deleteNetns,
  listNetns,
  type CleanupOptions,
  type ExecOptions,
  type NsRunner,
  type SpawnOptions,
} from './netns';
export {
  DEFAULT_VOLT_TIMEOUT_MS,
  SandboxHost,
  UPLINK,
  type AttachOptions,
  type SandboxOptions,
  type VoltOptions,
} from './sandbox-host';
export { ping, tcpProbe, tcpProbeInfo, type PingOptions, type TcpProbeOptions, type TcpProbeResult } from './probes';
export { emergencyCleanup, liveResources } from './registry';
export { GUEST_SHELL_PORT, GuestConsole, guestConfig, guestImage, guestShell, kernelDir, receiveOnce, type GuestImage } from './guest';
