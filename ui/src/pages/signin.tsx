// Sign-in on a team server: an API token pasted (kept for this tab only), or OpenID Connect.
import { useState } from 'preact/hooks';
import { saveToken, type ApiError } from '../api.js';
import { useData } from '../data.js';

export function SignIn(props: { onSignedIn: () => void; error: ApiError }) {
  const [token, setToken] = useState('');
  const [config] = useData(fetchConfig, []);
  return (
    <section class="signin" aria-labelledby="signin">
      <h1 id="signin">Sign in to Cairn</h1>
      <p class="muted">{props.error.message}</p>
      {config.state === 'ok' && config.data.oidc ? (
        <p>
          <a
            class="button primary"
            href={`/auth/login?return_to=${encodeURIComponent(location.pathname + location.search)}`}
          >
            Sign in with {new URL(config.data.oidc.issuer).host}
          </a>
        </p>
      ) : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          saveToken(token.trim());
          props.onSignedIn();
        }}
      >
        <label for="token">API token</label>{' '}
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          placeholder="cairn_tok…"
          size={50}
        />{' '}
        <button type="submit" class="primary">
          Sign in
        </button>
        <p class="muted">
          The token is kept in this tab only (session storage) and sent to this server alone. An admin issues one with
          cairn server token create.
        </p>
      </form>
    </section>
  );
}

async function fetchConfig(): Promise<{ oidc: { issuer: string } | null }> {
  const r = await fetch('/api/v1/auth/config');
  return (await r.json()) as { oidc: { issuer: string } | null };
}
