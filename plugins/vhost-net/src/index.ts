export { VhostNet, explain } from './vhost-net';
