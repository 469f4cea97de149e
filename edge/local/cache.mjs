// Stands in for Cloudflare's edge cache when the edge runs under plain workerd (make run, the
// tests, make bench), as Miniflare's cache does under `wrangler dev`. workerd sends the Cache
// API here: cache.put as PUT <key> with the serialised HTTP response as the body, cache.match
// as GET <key> (answered with Cf-Cache-Status HIT or MISS), cache.delete as PURGE <key>.
// In memory, bounded by MAX_BYTES (oldest entries go first), honouring max-age.

const MAX_BYTES = 1024 * 1024 * 1024;
const entries = new Map(); // key -> { status, headers, body, expires }
let total = 0;

const CRLF2 = [13, 10, 13, 10];

function indexOfSeq(bytes, seq, from) {
  outer: for (let i = from; i <= bytes.length - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (bytes[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

function latin1(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

// The body of a chunked HTTP message.
function dechunk(bytes) {
  const parts = [];
  let at = 0, size = 0;
  for (;;) {
    const eol = indexOfSeq(bytes, [13, 10], at);
    if (eol < 0) throw new Error("truncated chunk size");
    const n = parseInt(latin1(bytes.subarray(at, eol)).split(";")[0], 16);
    if (!Number.isFinite(n)) throw new Error("bad chunk size");
    at = eol + 2;
    if (n === 0) break;
    parts.push(bytes.subarray(at, at + n));
    size += n;
    at += n + 2;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function parse(bytes) {
  const end = indexOfSeq(bytes, CRLF2, 0);
  if (end < 0) throw new Error("no header end");
  const [statusLine, ...lines] = latin1(bytes.subarray(0, end)).split("\r\n");
  const status = parseInt(statusLine.split(" ")[1], 10);
  const headers = [];
  let chunked = false, maxAge = 0;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim(), value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding") { chunked = /chunked/i.test(value); continue; }
    if (lower === "cache-control") {
      const m = /(?:s-maxage|max-age)=(\d+)/i.exec(value);
      if (m) maxAge = parseInt(m[1], 10);
    }
    headers.push([name, value]);
  }
  const rest = bytes.subarray(end + 4);
  return { status, headers, body: chunked ? dechunk(rest) : rest.slice(), maxAge };
}

export default {
  async fetch(request) {
    const key = request.url;
    if (request.method === "PUT") {
      let entry;
      try {
        entry = parse(new Uint8Array(await request.arrayBuffer()));
      } catch (e) {
        return new Response(null, { status: 413 });
      }
      if (entry.maxAge <= 0 || entry.body.length > MAX_BYTES) return new Response(null, { status: 413 });
      const old = entries.get(key);
      if (old) { total -= old.body.length; entries.delete(key); }
      while (total + entry.body.length > MAX_BYTES && entries.size > 0) {
        const [k, v] = entries.entries().next().value;
        total -= v.body.length;
        entries.delete(k);
      }
      entry.expires = Date.now() + entry.maxAge * 1000;
      entries.set(key, entry);
      total += entry.body.length;
      return new Response(null, { status: 204 });
    }
    if (request.method === "GET") {
      const entry = entries.get(key);
      if (!entry || entry.expires <= Date.now()) {
        return new Response(null, { status: 504, headers: { "Cf-Cache-Status": "MISS" } });
      }
      const headers = new Headers(entry.headers);
      headers.set("Cf-Cache-Status", "HIT");
      return new Response(entry.body, { status: entry.status, headers });
    }
    if (request.method === "PURGE") {
      const entry = entries.get(key);
      if (!entry) return new Response(null, { status: 404 });
      total -= entry.body.length;
      entries.delete(key);
      return new Response(null, { status: 200 });
    }
    return new Response(null, { status: 405 });
  },
};
