/** Signal payloads the load workers send: a ~3 KB SDP and unique ~150 B candidates. */

const SDP_TARGET_BYTES = 3000;
function makeSdp() {
  const lines = [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS stream',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:0123456789abcdefghijklmn',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89',
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtcp-rsize',
  ];
  let pt = 96;
  let sdp = lines.join('\r\n') + '\r\n';
  while (sdp.length < SDP_TARGET_BYTES - 40) {
    sdp += `a=rtpmap:${pt} VP8/90000\r\na=rtcp-fb:${pt} nack pli\r\na=fmtp:${pt} x-google-start-bitrate=1000\r\n`;
    pt = pt >= 127 ? 96 : pt + 1;
  }
  return sdp;
}
/** A ~3 KB SDP (audio and video, many codecs), the size of a browser's offer. */
export const SDP = makeSdp();

/** A unique ~150 B candidate line: the foundation and port vary with `n`. */
export function makeCandidate(n) {
  const port = 10000 + (n % 50000);
  return {
    candidate: `candidate:${n} 1 udp 1686052607 203.0.113.${n % 250} ${port} typ srflx raddr 192.168.1.${n % 250} rport ${port} generation 0 ufrag abcd network-id 1 network-cost 10`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'abcd',
  };
}
