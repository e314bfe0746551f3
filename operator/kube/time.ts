/** Kubernetes MicroTime (RFC 3339 with exactly six fractional digits), as Leases and events.k8s.io want it. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
