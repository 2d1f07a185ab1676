export { DirectBridge, planBridge } from './direct-bridge';
export { DirectTap, plugLines } from './direct-tap';
export { DnsmasqDhcp, renderDnsmasqConf } from './dnsmasq-dhcp';
export { DirectVlans, planVlan } from './direct-vlan';
