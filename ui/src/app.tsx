// The page frame: who is signed in, the navigation, and the router's choice of page.
import { useEffect, useState } from 'preact/hooks';
import { call, saveToken, savedToken, type Me } from './api.js';
import { asApiError, ErrorBox } from './data.js';
import { Link, useLocation, type Location } from './router.js';
import { AuditPage } from './pages/audit.js';
import { ComputePage } from './pages/compute.js';
import { DatasetPage, DatasetsPage, VersionPage } from './pages/datasets.js';
import { HomePage } from './pages/home.js';
import { LineagePage } from './pages/lineage.js';
import { ModelPage, ModelsPage } from './pages/models.js';
import { ReleasesPage } from './pages/releases.js';
import { ComparePage } from './pages/compare.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { SignIn } from './pages/signin.js';
import type { ApiError } from './api.js';

const NAV: Array<[string, string]> = [
  ['/runs', 'Runs'],
  ['/models', 'Models'],
  ['/datasets', 'Datasets'],
  ['/lineage', 'Lineage'],
  ['/audit', 'Audit'],
  ['/compute', 'Compute'],
  ['/releases', 'Releases'],
];

export function App() {
  const loc = useLocation();
  const [me, setMe] = useState<Me | null>(null);
  const [authError, setAuthError] = useState<ApiError | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    call<Me>('whoami').then(
      (m) => {
        setMe(m);
        setAuthError(null);
      },
      (e: unknown) => setAuthError(asApiError(e)),
    );
  }, [tick]);
  const signedIn = () => setTick((t) => t + 1);
  useEffect(() => {
    document.title = `${titleOf(loc.path)} · Cairn`;
  }, [loc.path]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          Cairn
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <Link href={href} aria-current={loc.path.startsWith(href) ? 'page' : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {me ? (
            <>
              <span title={me.local ? 'cairn ui: this workspace, as you' : `role on project default`}>
                {me.user} · {me.local ? 'local workspace' : (me.role ?? 'no role')}
              </span>
              {!me.local && savedToken() ? (
                <button
                  type="button"
                  class="link"
                  onClick={() => {
                    saveToken(null);
                    setMe(null);
                    signedIn();
                  }}
                >
                  Sign out
                </button>
              ) : null}
            </>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {authError?.code === 'UNAUTHENTICATED' ? (
          <SignIn onSignedIn={signedIn} error={authError} />
        ) : authError ? (
          <ErrorBox error={authError} />
        ) : me ? (
          <Page loc={loc} me={me} />
        ) : (
          <p class="muted" aria-busy="true">
            Connecting…
          </p>
        )}
      </main>
    </>
  );
}

function titleOf(path: string): string {
  const top = NAV.find(([href]) => path.startsWith(href));
  return top ? top[1] : 'Overview';
}

function Page(props: { loc: Location; me: Me }) {
  const { loc, me } = props;
  // One segment may hold an encoded slash (the dataset flights/train is /datasets/flights%2Ftrain).
  const parts = loc.path
    .split('/')
    .filter(Boolean)
    .map((seg) => {
      try {
        return decodeURIComponent(seg);
      } catch {
        return seg;
      }
    });
  const [top, a, b] = parts;
  if (!top) return <HomePage me={me} />;
  if (top === 'runs' && !a) return <RunsPage loc={loc} />;
  if (top === 'runs' && a === 'compare' && !b) return <ComparePage loc={loc} />;
  if (top === 'runs' && a && !b) return <RunPage id={a} />;
  if (top === 'models' && !a) return <ModelsPage />;
  if (top === 'models' && a && !b) return <ModelPage name={a} me={me} loc={loc} />;
  if (top === 'datasets' && !a) return <DatasetsPage />;
  if (top === 'datasets' && a && !b) return <DatasetPage name={a} loc={loc} />;
  if (top === 'datasets' && a && b && parts.length === 3) return <VersionPage name={a} version={b} />;
  if (top === 'lineage' && !a) return <LineagePage loc={loc} />;
  if (top === 'audit' && !a) return <AuditPage loc={loc} />;
  if (top === 'compute' && !a) return <ComputePage loc={loc} />;
  if (top === 'releases' && !a) return <ReleasesPage loc={loc} />;
  return (
    <ErrorBox
      error={{ code: 'NOT_FOUND', message: `there is no page ${loc.path}`, status: 404, name: 'ApiError' } as ApiError}
    />
  );
}
