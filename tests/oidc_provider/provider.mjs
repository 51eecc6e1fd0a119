// A real OpenID Connect provider for the single sign-on tests: panva's oidc-provider, with its
// development login form (any password; the account is the login name).
// Usage: node provider.mjs <port> <client.json> <accounts.json>
//   client.json: {"client_id", "client_secret", "redirect_uris": [...]}
//   accounts.json: {"<login>": {"email", "name", "groups": [...]}} (read again at every login,
//   so a test can move a user between groups)
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, clientFile, accountsFile] = process.argv.slice(2);
const client = JSON.parse(readFileSync(clientFile, "utf8"));
const accounts = () => JSON.parse(readFileSync(accountsFile, "utf8"));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    ...client,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username"],
    groups: ["groups"],
  },
  scopes: ["openid", "email", "profile", "groups"],
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["scada-test-provider-cookie-key"] },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, email: account.email, email_verified: true, name: account.name,
          preferred_username: id, groups: account.groups,
        };
      },
    };
  },
});
provider.proxy = false;
// Errors the provider answers with "server_error" go to its log, for the test to show.
provider.on("server_error", (ctx, error) => console.error("server_error", error));
provider.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
