/**
 * Deterministic roles for a peer pair, shared by the server (which picks the side that
 * restarts ICE) and the SDK (which picks the polite side for perfect negotiation).
 * Both sides compute the same answer from the two peer ids, with no extra messages.
 */

/** True when `self` is the polite side of the pair (the one that rolls back on glare). */
export function isPolite(self: string, remote: string): boolean {
  return self > remote;
}

/**
 * The peer that must restart ICE for the pair: the impolite side, whose offer wins a collision,
 * so a restart offer is never rolled back by the other side.
 */
export function iceRestartSide(a: string, b: string): string {
  return a < b ? a : b;
}
