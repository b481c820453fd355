/** The `<sess-id>` of the SDP origin line; it changes only when the remote creates a new RTCPeerConnection. */
export function sdpSessionId(sdp: string): string | null {
  const match = /^o=\S+ (\S+) /m.exec(sdp);
  return match ? match[1] : null;
}

/** The first `a=ice-ufrag` of an SDP; it changes on an ICE restart. */
export function sdpIceUfrag(sdp: string): string | null {
  const match = /^a=ice-ufrag:(\S+)/m.exec(sdp);
  return match ? match[1] : null;
}
