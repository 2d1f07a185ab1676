export { NodeIngressProxy, healthTargets } from './node-ingress';
export { RouteTable, normalizeHost, pathMatches, stripPrefix, pickUpstream, backendKey } from './route-table';
export { parseClientHello } from './client-hello';
export { upstreamRequestHeaders, downstreamResponseHeaders, upgradeRequestHead } from './forward-headers';
export { renewalTime, retryDelay, certificateNeed } from './renewal';
