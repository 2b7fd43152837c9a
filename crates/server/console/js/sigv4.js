// AWS Signature Version 4 in the browser (Web Crypto), for the control plane's requests.
// The console has no private API: it signs each request with the key the user typed, exactly
// as an SDK would, so a key can do here what it can do through an SDK and nothing more.
// The canonical request follows docs/protocol/control-plane.md §2 (service `ivschat`; the
// path's segments, already percent-encoded, are encoded once more, as for every service but S3).

const encoder = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

async function hmac(key, text) {
  const raw = typeof key === 'string' ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, encoder.encode(text)));
}

/** RFC 3986 encoding (encodeURIComponent leaves !'()* alone; SigV4 does not). */
export function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** `20261207T012000Z` and `20261207` for a Date. */
function stamps(now) {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return { amzDate, day: amzDate.slice(0, 8) };
}

/**
 * Headers for `method path?query` with `body` (a string, '' for none), signed with
 * `credentials` ({accessKeyId, secretAccessKey, region}). `path` is already percent-encoded;
 * `query` is a list of [name, value] pairs. The browser sends Host itself (it is the page's).
 */
export async function sign(credentials, { method, path, query = [], body = '', host, now = new Date() }) {
  const { amzDate, day } = stamps(now);
  const payloadHash = await sha256Hex(body);
  const headers = { host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate };
  if (body) headers['content-type'] = 'application/json';
  const names = Object.keys(headers).sort();
  const canonicalPath = path.split('/').map(uriEncode).join('/');
  const canonicalQuery = query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [
    method,
    canonicalPath,
    canonicalQuery,
    names.map((n) => `${n}:${String(headers[n]).trim()}\n`).join(''),
    names.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${day}/${credentials.region}/ivschat/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256Hex(canonical)].join('\n');
  let key = await hmac('AWS4' + credentials.secretAccessKey, day);
  for (const part of [credentials.region, 'ivschat', 'aws4_request']) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  delete headers.host; // forbidden in fetch; the browser sends the same value
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}
