import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics (docs/api.md §5), on a registry of its own so tests can build many apps. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    uploadsCreated: new Counter({ name: 'gateway_uploads_created_total', help: 'tus uploads created', registers: [registry] }),
    uploadsFinished: new Counter({ name: 'gateway_uploads_finished_total', help: 'uploads finalized into the Store', registers: [registry] }),
    uploadsFailed: new Counter({ name: 'gateway_uploads_failed_total', help: 'uploads whose finalization failed', registers: [registry] }),
    bytesReceived: new Counter({ name: 'gateway_upload_bytes_received_total', help: 'bytes written to the tus datastore', registers: [registry] }),
    finalizeDuration: new Histogram({
      name: 'gateway_finalize_duration_seconds',
      help: 'time from the last byte to the object in the Store',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    objectsServed: new Counter({ name: 'gateway_objects_served_total', help: 'object GETs answered with a body', labelNames: ['route'] as const, registers: [registry] }),
    bytesServed: new Counter({ name: 'gateway_bytes_served_total', help: 'object bytes sent to clients', labelNames: ['route'] as const, registers: [registry] }),
    activeUploads: new Gauge({ name: 'gateway_active_uploads', help: 'PATCH/POST requests currently receiving bytes', registers: [registry] }),
    // Labels are bounded: the route pattern (`/api/objects/*`), never the raw path; the status class (2xx), not the code.
    httpDuration: new Histogram({
      name: 'gateway_http_request_duration_seconds',
      help: 'HTTP request duration, from the first byte in to the last byte out',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
      registers: [registry],
    }),
    s3Duration: new Histogram({
      name: 'gateway_s3_operation_duration_seconds',
      help: 'S3 operations by SDK command, retries included',
      labelNames: ['command', 'outcome'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: [registry],
    }),
    lockWait: new Histogram({
      name: 'gateway_lock_wait_seconds',
      help: 'time a request waited for an upload lock',
      labelNames: ['locker'] as const,
      buckets: [0.0005, 0.005, 0.05, 0.25, 1, 5, 30],
      registers: [registry],
    }),
    connections: new Gauge({ name: 'gateway_http_connections_active', help: 'open client TCP connections', registers: [registry] }),
    uploadsTerminated: new Counter({ name: 'gateway_uploads_terminated_total', help: 'tus uploads terminated (DELETE)', registers: [registry] }),
    webhookDeliveries: new Counter({ name: 'gateway_webhook_deliveries_total', help: 'webhook delivery attempts by result (delivered, failed = will retry, given_up)', labelNames: ['result'] as const, registers: [registry] }),
    webhookOldestPending: new Gauge({ name: 'gateway_webhook_oldest_pending_seconds', help: 'age of the oldest undelivered webhook event (0: none)', registers: [registry] }),
    httpRequests: new Counter({ name: 'gateway_http_requests_total', help: 'HTTP requests by method and status', labelNames: ['method', 'status'] as const, registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
