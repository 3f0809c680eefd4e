import { useState } from "preact/hooks";
import { errorText, get, list, post, put, del } from "../api";
import { CallsTable } from "../components/calls-table";
import { Async, Badge, Card, Empty, Pager } from "../components/ui";
import { dateTime } from "../format";
import { useLoad } from "../hooks";
import type { Call, Contact } from "../types";

export function ContactPage({ contactId }: { contactId: string }) {
  const contact = useLoad(() => get<Contact>(`/api/db/contacts/${contactId}`), [contactId]);
  const [page, setPage] = useState(1);
  const calls = useLoad(() => list<Call>(`/api/db/contacts/${contactId}/calls`, { page, limit: 20 }), [contactId, page], 10000);
  return (
    <div class="page">
      <p class="crumbs">
        <a href="#/contacts">← Contacts</a>
      </p>
      <Async loaded={contact}>{(c) => <ContactCard contact={c} onChanged={contact.reload} />}</Async>
      <Card title="Call history">
        <Async loaded={calls}>
          {(res) =>
            res.items.length ? (
              <>
                <CallsTable calls={res.items} caption="Calls with this contact" />
                <Pager pagination={res.pagination} onPage={setPage} />
              </>
            ) : (
              <Empty>No calls with this contact yet.</Empty>
            )
          }
        </Async>
      </Card>
    </div>
  );
}

function ContactCard({ contact, onChanged }: { contact: Contact; onChanged: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const dnc = contact.status === "do-not-call";

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await action();
      onChanged();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div class="page-head">
        <h1>
          {contact.name || contact.phoneNumber} <Badge value={contact.status} />
        </h1>
        <div class="actions">
          <button
            type="button"
            class={dnc ? "secondary" : "danger"}
            disabled={busy}
            onClick={() => run(() => put(`/api/db/contacts/${contact._id}`, { status: dnc ? "active" : "do-not-call" }))}
          >
            {dnc ? "Allow calls again" : "Mark do-not-call"}
          </button>
        </div>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <Card title="Details">
        <dl class="facts">
          <dt>Number</dt>
          <dd class="mono">{contact.phoneNumber}</dd>
          <dt>Email</dt>
          <dd>{contact.email ?? "—"}</dd>
          <dt>Time zone</dt>
          <dd>{contact.timezone ?? "—"}</dd>
          <dt>Priority</dt>
          <dd>{contact.priority}</dd>
          <dt>Calls</dt>
          <dd>
            {contact.callCount} (last {dateTime(contact.lastContacted)})
          </dd>
          <dt>Campaigns</dt>
          <dd>
            {contact.campaignIds.length
              ? contact.campaignIds.map((id, i) => (
                  <a key={id} href={`#/campaigns/${id}`}>
                    {i ? ", " : ""}campaign {i + 1}
                  </a>
                ))
              : "—"}
          </dd>
          {contact.notes && (
            <>
              <dt>Notes</dt>
              <dd class="pre">{contact.notes}</dd>
            </>
          )}
          {contact.customFields && Object.keys(contact.customFields).length > 0 && (
            <>
              <dt>Custom fields</dt>
              <dd>
                {Object.entries(contact.customFields).map(([k, v]) => (
                  <div key={k}>
                    <span class="muted">{k}:</span> {String(v)}
                  </div>
                ))}
              </dd>
            </>
          )}
        </dl>
        <Tags contact={contact} busy={busy} run={run} />
      </Card>
    </>
  );
}

function Tags({ contact, busy, run }: { contact: Contact; busy: boolean; run: (a: () => Promise<unknown>) => void }) {
  const path = `/api/db/contacts/${contact._id}/tags`;
  return (
    <div class="tags">
      <h3>Tags</h3>
      <ul class="tag-list">
        {contact.tags.map((t) => (
          <li key={t} class="tag">
            {t}
            <button type="button" class="icon" aria-label={`Remove tag ${t}`} disabled={busy} onClick={() => run(() => del(path, { tags: [t] }))}>
              ×
            </button>
          </li>
        ))}
        {!contact.tags.length && <li class="muted">No tags.</li>}
      </ul>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const tag = String(new FormData(form).get("tag") ?? "").trim();
          if (tag) run(() => post(path, { tags: [tag] }).then(() => form.reset()));
        }}
      >
        <label class="field">
          <span class="field-label">New tag</span>
          <input name="tag" maxLength={100} />
        </label>
        <button type="submit" class="secondary" disabled={busy}>
          Add tag
        </button>
      </form>
    </div>
  );
}
