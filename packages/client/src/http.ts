import { LIMITS } from './defaults.js';

/** A non-2xx answer to a GET of the SDK (its `status` tells a refused token, 401, from an outage). */
export class HttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`GET ${url}: HTTP ${status}`);
  }
}

/** GETs a JSON document, with `Authorization: Bearer` when a token is given; bounded in time. */
export async function fetchJson<T>(url: string, token?: string): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), LIMITS.httpTimeoutMs);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const response = await fetch(url, { signal: controller.signal, headers });
    if (!response.ok) throw new HttpError(url, response.status);
    return (await response.json()) as T;
  } finally {
    clearTimeout(timer);
  }
}
