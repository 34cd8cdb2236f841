/**
 * Prometheus text exposition for /metrics: request counts and latency by operation and status,
 * refused requests by reason, and the process's memory. Kept by hand (a few counters) rather
 * than a client library: the format is four lines of spec.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  #requests = new Map<string, number>();
  #latency = new Map<string, { buckets: number[]; sum: number; count: number }>();
  #denied = new Map<string, number>();
  #writeStalls = 0;

  observe(operation: string, status: number, seconds: number): void {
    const key = `operation="${operation}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let h = this.#latency.get(operation);
    if (!h) this.#latency.set(operation, (h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  denied(reason: 'unauthenticated' | 'forbidden' | 'bad_request' | 'not_found' | 'malformed'): void {
    this.#denied.set(reason, (this.#denied.get(reason) ?? 0) + 1);
  }

  /** A connection closed because its answer stopped moving (write-stall.ts). */
  writeStalled(): void {
    this.#writeStalls++;
  }

  render(extra: Record<string, number>): string {
    const out: string[] = [];
    out.push('# HELP cairn_http_requests_total Requests served, by operation and HTTP status.');
    out.push('# TYPE cairn_http_requests_total counter');
    for (const [k, v] of this.#requests) out.push(`cairn_http_requests_total{${k}} ${v}`);
    out.push('# HELP cairn_http_request_duration_seconds Time to answer a request.');
    out.push('# TYPE cairn_http_request_duration_seconds histogram');
    for (const [op, h] of this.#latency) {
      BUCKETS.forEach((b, i) =>
        out.push(`cairn_http_request_duration_seconds_bucket{operation="${op}",le="${b}"} ${h.buckets[i]}`),
      );
      out.push(`cairn_http_request_duration_seconds_bucket{operation="${op}",le="+Inf"} ${h.count}`);
      out.push(`cairn_http_request_duration_seconds_sum{operation="${op}"} ${h.sum}`);
      out.push(`cairn_http_request_duration_seconds_count{operation="${op}"} ${h.count}`);
    }
    out.push('# HELP cairn_http_denied_total Requests refused before reaching a service.');
    out.push('# TYPE cairn_http_denied_total counter');
    for (const [k, v] of this.#denied) out.push(`cairn_http_denied_total{reason="${k}"} ${v}`);
    out.push('# HELP cairn_http_write_stalls_total Connections closed because the client stopped reading its answer.');
    out.push('# TYPE cairn_http_write_stalls_total counter', `cairn_http_write_stalls_total ${this.#writeStalls}`);
    const mem = process.memoryUsage();
    out.push('# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${mem.rss}`);
    out.push('# TYPE nodejs_heap_used_bytes gauge', `nodejs_heap_used_bytes ${mem.heapUsed}`);
    for (const [k, v] of Object.entries(extra)) out.push(`# TYPE ${k} gauge`, `${k} ${v}`);
    return out.join('\n') + '\n';
  }
}
