/** The effective configuration: the file over the defaults. */
export interface VoltConfig {
  network: {
    default_bridge: string;
    default_subnet: string;
    mtu: number;
    dns: { enabled: boolean; upstream: string[]; search_domains: string[] };
    firewall: { host_input: 'drop' | 'accept'; host_allow: string[] };
  };
  drivers: Partial<Record<'bridge' | 'firewall' | 'dns' | 'ingress' | 'vm-nic', string>>;
}

export function defaultConfig(): VoltConfig {
  return {
    network: {
      default_bridge: 'volt0',
      default_subnet: '10.0.0.0/24',
      mtu: 1500,
      dns: { enabled: true, upstream: ['1.1.1.1', '8.8.8.8'], search_domains: ['volt.local'] },
      firewall: { host_input: 'drop', host_allow: ['tcp/22'] },
    },
    drivers: {},
  };
}
