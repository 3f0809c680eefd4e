import { useEffect, useState } from "preact/hooks";
import { setUnauthorizedHandler } from "./api";
import { connect, disconnect, useConnected } from "./realtime";
import { useRoute, type Route } from "./router";
import { forgetKey, storedKey } from "./session";
import { SignIn } from "./pages/signin";
import { OverviewPage } from "./pages/overview";
import { LivePage } from "./pages/live";
import { CallsPage } from "./pages/calls";
import { CallPage } from "./pages/call";
import { CampaignsPage } from "./pages/campaigns";
import { CampaignPage } from "./pages/campaign";
import { CampaignFormPage } from "./pages/campaign-form";
import { ContactsPage } from "./pages/contacts";
import { ContactPage } from "./pages/contact";
import { AnalyticsPage } from "./pages/analytics";

const NAV = [
  ["", "Overview"],
  ["live", "Live calls"],
  ["calls", "Calls"],
  ["campaigns", "Campaigns"],
  ["contacts", "Contacts"],
  ["analytics", "Analytics"],
] as const;

export function App() {
  const [key, setKey] = useState(storedKey);
  useEffect(() => setUnauthorizedHandler(() => setKey(null)), []);
  useEffect(() => {
    if (key) connect(key);
    else disconnect();
  }, [key]);
  if (!key) return <SignIn onSignedIn={setKey} />;
  return (
    <Shell
      onSignOut={() => {
        forgetKey();
        setKey(null);
      }}
    />
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const connected = useConnected();
  const section = route.path[0] ?? "";
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [route]);
  useEffect(() => {
    document.title = `${NAV.find(([p]) => p === section)?.[1] ?? "outcall"} · outcall`;
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [section]);
  return (
    <div class="shell">
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/">
          outcall
        </a>
        <button
          type="button"
          class="menu-toggle secondary small"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <nav id="nav" class={menuOpen ? "open" : ""} aria-label="Main">
          {NAV.map(([path, name]) => (
            <a key={path} href={`#/${path}`} aria-current={section === path ? "page" : undefined}>
              {name}
            </a>
          ))}
        </nav>
        <span class={`conn ${connected ? "on" : "off"}`} title={connected ? "Live updates connected" : "Live updates unavailable: refreshing periodically"}>
          <span class="dot" aria-hidden="true" />
          <span class="conn-text">{connected ? "Live" : "Polling"}</span>
        </span>
        <button type="button" class="secondary small" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  const [section, id, sub] = route.path;
  switch (section) {
    case undefined:
      return <OverviewPage />;
    case "live":
      return <LivePage />;
    case "calls":
      return id ? <CallPage callSid={id} /> : <CallsPage query={route.query} />;
    case "campaigns":
      if (id === "new") return <CampaignFormPage />;
      if (id && sub === "edit") return <CampaignFormPage campaignId={id} />;
      return id ? <CampaignPage campaignId={id} query={route.query} /> : <CampaignsPage />;
    case "contacts":
      return id ? <ContactPage contactId={id} /> : <ContactsPage query={route.query} />;
    case "analytics":
      return <AnalyticsPage />;
    default:
      return (
        <div class="page">
          <h1>Not found</h1>
          <p>
            There is no page here. <a href="#/">Go to the overview</a>.
          </p>
        </div>
      );
  }
}
