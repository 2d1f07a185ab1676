/** Moved to the SDK (@volt/sdk/net), the one IPv6 parser of the tree; kept so core's imports read as before. */
export * from '@volt/sdk/net';
