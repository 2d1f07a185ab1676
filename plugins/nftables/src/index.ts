export { NftablesFirewall } from './nftables-firewall';
