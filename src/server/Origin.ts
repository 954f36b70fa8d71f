/**
 * Browsers always send `Origin` on a WebSocket upgrade and on cross-site
 * writes; a page from another site must not reach the terminals
 * (cross-site WebSocket hijacking). Non-browser clients send none.
 */
export const originAllowed = (origin: string | undefined, host: string | undefined): boolean => {
  if (origin === undefined) return true
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}
