// Makes DPoP proofs (RFC 9449) for curl, with Node.js alone (no npm package).
//
//   node envoy/dpop-proof.mjs KEYFILE --jkt              the key's thumbprint (a token's cnf.jkt)
//   node envoy/dpop-proof.mjs KEYFILE METHOD URL [TOKEN] a fresh proof for one request; with the
//                                                        access token, its hash (ath) is included
//
// KEYFILE holds the client's private P-256 key as a JWK; it is created (mode 0600) on first use.
// Every proof has a new random jti and the current time as iat: make one per request.
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [keyFile, method, url, token] = process.argv.slice(2);
if (!keyFile || !method || (method !== '--jkt' && !url)) {
  console.error('usage: node dpop-proof.mjs KEYFILE --jkt | KEYFILE METHOD URL [ACCESS_TOKEN]');
  process.exit(2);
}
if (!existsSync(keyFile)) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(keyFile, JSON.stringify(privateKey.export({ format: 'jwk' })), { mode: 0o600 });
}
const privateJwk = JSON.parse(readFileSync(keyFile, 'utf8'));
const jwk = { crv: privateJwk.crv, kty: privateJwk.kty, x: privateJwk.x, y: privateJwk.y };
const b64url = (data) => Buffer.from(data).toString('base64url');

if (method === '--jkt') {
  // RFC 7638: the required members in lexicographic order, no whitespace.
  console.log(b64url(createHash('sha256').update(JSON.stringify(jwk)).digest()));
  process.exit(0);
}
const header = { typ: 'dpop+jwt', alg: 'ES256', jwk };
const claims = { jti: randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000) };
if (token) claims.ath = b64url(createHash('sha256').update(token).digest());
const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
console.log(`${input}.${b64url(signature)}`);
