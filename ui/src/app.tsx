import { useEffect, useState } from "preact/hooks";
import { brokerUrlOf, type Credentials, Session } from "./connection.js";
import { LoginForm } from "./login.js";
import { ActivityPage } from "./pages/activity.js";
import { FleetPage } from "./pages/fleet.js";
import { RunPage } from "./pages/run.js";
import { VmPage } from "./pages/vm.js";
import { WorkersPage } from "./pages/workers.js";
import { type Route, useRoute } from "./route.js";
import { DashboardConfig } from "./schemas.js";
import { useSignal } from "./signal.js";

type Loaded =
  | { kind: "loading" }
  | { kind: "failed"; message: string }
  | { kind: "ready"; config: DashboardConfig };

export function App() {
  const [loaded, setLoaded] = useState<Loaded>({ kind: "loading" });
  const [session, setSession] = useState<Session | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  useEffect(() => {
    fetch("config.json")
      .then(async (response) => {
        if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
        const config = DashboardConfig.parse(await response.json());
        setLoaded({ kind: "ready", config });
        if (!config.needsLogin) setSession(new Session(config, undefined));
      })
      .catch((error: unknown) => setLoaded({ kind: "failed", message: (error as Error).message }));
  }, []);
  useEffect(() => () => session?.close(), [session]);
  if (loaded.kind === "loading") return <p role="status">Loading…</p>;
  if (loaded.kind === "failed")
    return <p role="status">The dashboard could not load its configuration: {loaded.message}</p>;
  const login = (credentials: Credentials) => {
    setProblem(undefined);
    setSession(new Session(loaded.config, credentials));
  };
  if (!session) {
    return (
      <LoginForm
        broker={brokerUrlOf(loaded.config.brokerUrl)}
        {...(problem ? { problem } : {})}
        onLogin={login}
      />
    );
  }
  return (
    <Shell
      session={session}
      onLogout={(reason) => {
        setSession(undefined);
        setProblem(reason);
      }}
    />
  );
}

function Shell({ session, onLogout }: { session: Session; onLogout: (reason?: string) => void }) {
  const route = useRoute();
  useSignal(session.linkChanged);
  const { link } = session;
  // A refused login will be refused again: back to the form, with the broker's reason.
  useEffect(() => {
    if (link.kind === "closed" && link.reason.startsWith("the broker refused the login"))
      onLogout(link.reason);
  }, [link, onLogout]);
  const user = session.credentials?.username;
  return (
    <>
      <header class="top">
        <span class="brand">qga-mqtt</span>
        <nav aria-label="Sections">
          {navLink(route, "fleet", "#/fleet", "Fleet")}
          {navLink(route, "run", "#/run", "Run on many")}
          {navLink(route, "activity", "#/activity", "Activity")}
          {navLink(route, "workers", "#/workers", "Workers")}
        </nav>
        <span role="status" aria-label="Connection" class={`link link-${link.kind}`}>
          {link.kind === "connected"
            ? `connected${user ? ` as ${user}` : ""}`
            : link.kind === "connecting"
              ? "connecting…"
              : `disconnected: ${link.reason}`}
        </span>
        {session.credentials ? (
          <button type="button" onClick={() => onLogout()}>
            Log out
          </button>
        ) : null}
      </header>
      <main>
        <Page route={route} session={session} />
      </main>
    </>
  );
}

function navLink(route: Route, page: Route["page"], href: string, label: string) {
  const current = route.page === page || (page === "fleet" && route.page === "vm");
  return (
    <a href={href} aria-current={current ? "page" : undefined}>
      {label}
    </a>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case "fleet":
      return <FleetPage session={session} />;
    case "vm":
      return <VmPage key={route.vm} session={session} name={route.vm} />;
    case "run":
      return <RunPage session={session} />;
    case "activity":
      return <ActivityPage session={session} />;
    case "workers":
      return <WorkersPage session={session} />;
  }
}
