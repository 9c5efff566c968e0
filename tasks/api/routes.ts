/** Every route of the HTTP API. The handler's router and the stack's API Gateway routes both read this list. */
export const API_ROUTES = [
  { method: 'GET', path: '/health', name: 'health' },
  { method: 'POST', path: '/jobs', name: 'createJob' },
  { method: 'GET', path: '/jobs', name: 'listJobs' },
  { method: 'GET', path: '/jobs/{id}', name: 'getJob' },
  { method: 'GET', path: '/jobs/{id}/items', name: 'listItems' },
  { method: 'GET', path: '/jobs/{id}/results', name: 'getResults' },
  { method: 'GET', path: '/jobs/{id}/logs', name: 'listLogs' },
  { method: 'POST', path: '/jobs/{id}/cancel', name: 'cancelJob' },
  { method: 'POST', path: '/uploads', name: 'createUpload' },
  { method: 'POST', path: '/jobs/{id}/redrive', name: 'redriveJob' },
  { method: 'POST', path: '/jobs/{id}/retry', name: 'retryJob' },
] as const;

export type ApiRouteName = (typeof API_ROUTES)[number]['name'];

/** Routes that answer without authorization (uptime checks). */
export const PUBLIC_ROUTES: readonly ApiRouteName[] = ['health'];
