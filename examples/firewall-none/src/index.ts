export { NoneFirewall } from './none-firewall';
