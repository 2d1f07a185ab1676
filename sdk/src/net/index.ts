/** The one IPv4 and IPv6 parser and formatter of the tree, for core and every driver. */
export * from './ipv4';
export * from './ipv6';
