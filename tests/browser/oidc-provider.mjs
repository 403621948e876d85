// A real OpenID Connect provider for the single sign-on tests: panva's certified `oidc-provider`
// (npm, pinned in package.json), not a mock. `.ci/run` starts it; it prints
// `listening http://127.0.0.1:PORT` once it serves, and that URL is its issuer.
//
// - Dynamic client registration is open (POST /reg), so each test registers its own client with
//   the redirect URI of the server it started.
// - PKCE is required of every client (authorization code flow only).
// - The built-in development login page takes any account name; `email` is that name and
//   `licentia_role` (the claim Licentia maps to a role) comes from the small directory below, so a
//   test chooses who logs in by what it types. Both are in the ID token.
import http from "node:http";
import Provider from "oidc-provider";

const directory = {
  "dana@borealis.example": "licensing",
  "lee@borealis.example": "licensing",
  "eve@evil.example": "licensing",
  "ivan@aurora.example": "ip-counsel",
};

const server = http.createServer();
server.listen(Number(process.env.OIDC_PORT || 0), "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [],
    features: {
      registration: { enabled: true },
      devInteractions: { enabled: true },
    },
    pkce: { required: () => true },
    responseTypes: ["code"],
    claims: { openid: ["sub", "licentia_role"], email: ["email", "email_verified"] },
    // The claims of the requested scopes go into the ID token itself (Licentia reads them there).
    conformIdTokenClaims: false,
    findAccount: async (_ctx, id) => ({
      accountId: id,
      async claims() {
        return { sub: id, email: id.toLowerCase(), email_verified: true, licentia_role: directory[id.toLowerCase()] || "none" };
      },
    }),
    cookies: { keys: ["licentia-tests-only-not-a-secret"] },
  });
  // Plain http on 127.0.0.1 is a test setup: tell the provider it is not behind TLS on purpose.
  provider.proxy = false;
  server.on("request", provider.callback());
  console.log(`listening ${issuer}`);
});
