// A real OpenID Connect provider (panva/oidc-provider, installed from npm by `make oidc-provider`)
// for edge-auth's end-to-end test: issuer http://127.0.0.1:<port>, a fresh RSA signing key per
// run, two confidential clients for the client credentials grant, JWT access tokens for the
// resource "https://edge-api.example" and opaque ones for "https://opaque-api.example" (both with
// audience "edge-api"), token introspection for the client "edge" (edge-auth itself), and DPoP
// (RFC 9449): a token request with a DPoP proof gets a token bound to the proof's key (cnf.jkt).
// Certificate-bound tokens (RFC 8705) for the client "bound": the provider listens on plain HTTP
// on loopback, so the test hands it the client certificate as a TLS-terminating front proxy
// would, in a header (x-client-certificate: base64 of the PEM); the token gets cnf."x5t#S256".
//
//   node tests/oidc/provider.mjs <port>
//
// Clients (client_secret_basic):
//   reader / reader-secret   may request: devices:read
//   writer / writer-secret   may request: devices:read devices:write
//   edge / edge-secret       may introspect tokens
//   bound / bound-secret     may request: devices:read; certificate-bound tokens
//   admin / admin-secret     may request: devices:read; Keycloak-shaped roles (below)
//   operator / operator-secret  may request: devices:read; Keycloak-shaped roles (below)
//
// Access tokens of "admin" and "operator" carry the claims Keycloak puts in its tokens (through
// the extraTokenClaims hook), so that edge-auth's claim conditions are tested on tokens a real
// provider signed: realm roles in realm_access.roles, each client's roles in
// resource_access.<client>.roles, and a group list (Keycloak's group mapper, without full path):
//   admin     realm_access.roles ["admin", "user"],
//             resource_access {"edge-api": ["devices:write"], "account": ["view-profile"]},
//             groups ["ops", "dev"]
//   operator  resource_access {"edge-api": ["devices:write"]} only
// Every other client's tokens carry none of them.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'oidc-rs256', use: 'sig', alg: 'RS256' };
const client = (id, scope) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
  ...(scope ? { scope } : {}),
});

const role = (roles) => ({ roles });
const keycloakClaims = {
  admin: {
    realm_access: role(['admin', 'user']),
    resource_access: { 'edge-api': role(['devices:write']), account: role(['view-profile']) },
    groups: ['ops', 'dev'],
  },
  operator: {
    resource_access: { 'edge-api': role(['devices:write']) },
  },
};

const provider = new Provider(issuer, {
  jwks: { keys: [signing] },
  clients: [
    client('reader', 'devices:read'),
    client('writer', 'devices:read devices:write'),
    client('edge'),
    { ...client('bound', 'devices:read'), tls_client_certificate_bound_access_tokens: true },
    client('admin', 'devices:read'),
    client('operator', 'devices:read'),
  ],
  extraTokenClaims: async (_ctx, token) =>
    (Object.hasOwn(keycloakClaims, token.clientId) ? keycloakClaims[token.clientId] : undefined),
  scopes: ['devices:read', 'devices:write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      getCertificate: (ctx) => {
        const forwarded = ctx.get('x-client-certificate');
        return forwarded ? Buffer.from(forwarded, 'base64').toString('utf8') : undefined;
      },
    },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx) => ctx.oidc.client.clientId === 'edge',
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://edge-api.example',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'devices:read devices:write',
        audience: 'edge-api',
        accessTokenFormat: resource === 'https://opaque-api.example' ? 'opaque' : 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});

process.on('SIGTERM', () => process.exit(0));
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc provider listening on 127.0.0.1:${port}`);
});
