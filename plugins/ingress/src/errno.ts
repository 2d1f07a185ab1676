/** An errno (or undici code) as a short phrase for replies, logs and status. */
export function describeErrno(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'EADDRINUSE':
      return 'address already in use (EADDRINUSE)';
    case 'EACCES':
      return 'permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE';
    case 'EADDRNOTAVAIL':
      return 'no such address on this host (EADDRNOTAVAIL)';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the backend';
    case 'ECONNRESET':
      return 'connection reset by the backend';
    case 'UND_ERR_SOCKET':
      return 'the backend closed the connection';
    default:
      return e.code !== undefined ? `${e.message} (${e.code})` : e.message;
  }
}
