import { useState } from "preact/hooks";
import { errorText, get, post, put } from "../api";
import { Async, Card, ErrorBox, Field, Select } from "../components/ui";
import { flashImport } from "../flash";
import { useLoad } from "../hooks";
import { navigate } from "../router";
import type { Campaign, ImportResult } from "../types";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const RETRY_ON = ["busy", "no-answer", "failed", "voicemail"];

export function CampaignFormPage({ campaignId }: { campaignId?: string }) {
  const existing = useLoad(
    () => (campaignId ? get<Campaign>(`/api/db/campaigns/${campaignId}`) : Promise.resolve(null)),
    [campaignId],
  );
  return (
    <div class="page">
      <p class="crumbs">
        <a href={campaignId ? `#/campaigns/${campaignId}` : "#/campaigns"}>← {campaignId ? "Campaign" : "Campaigns"}</a>
      </p>
      <h1>{campaignId ? "Edit campaign" : "New campaign"}</h1>
      {campaignId ? (
        <Async loaded={existing}>{(c) => (c ? <CampaignForm campaign={c} /> : null)}</Async>
      ) : (
        <CampaignForm />
      )}
    </div>
  );
}

function text(data: FormData, name: string): string | undefined {
  const v = String(data.get(name) ?? "").trim();
  return v || undefined;
}

function number(data: FormData, name: string): number | undefined {
  const v = text(data, name);
  return v === undefined ? undefined : Number(v);
}

/// The request body of the form; unset fields are left out so the server's defaults apply.
function body(data: FormData): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    callDelay: number(data, "callDelay"),
    maxConcurrentCalls: number(data, "maxConcurrentCalls"),
    retryCount: number(data, "retryCount"),
    retryDelay: number(data, "retryDelayMinutes") === undefined ? undefined : (number(data, "retryDelayMinutes") ?? 0) * 60,
    retryOn: data.getAll("retryOn").map(String),
  };
  const windowStart = text(data, "windowStart");
  const windowEnd = text(data, "windowEnd");
  if (windowStart || windowEnd) {
    settings.callingWindow = {
      start: windowStart ?? "",
      end: windowEnd ?? "",
      days: data.getAll("days").map(String),
      timezone: text(data, "windowTimezone") ?? "",
    };
  }
  const action = text(data, "voicemailAction");
  if (action) settings.voicemail = { action, message: text(data, "voicemailMessage") };
  return {
    name: String(data.get("name") ?? "").trim(),
    description: text(data, "description"),
    prompt: text(data, "prompt"),
    firstMessage: text(data, "firstMessage"),
    callerId: text(data, "callerId"),
    settings,
  };
}

function CampaignForm({ campaign }: { campaign?: Campaign }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const s = campaign?.settings;
  const w = s?.callingWindow;

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setError(null);
    try {
      if (campaign) {
        setBusy("Saving…");
        await put(`/api/db/campaigns/${campaign._id}`, body(data));
        navigate(`/campaigns/${campaign._id}`);
        return;
      }
      const file = data.get("csv");
      const csv = file instanceof File && file.size > 0 ? await file.text() : null;
      setBusy("Creating…");
      const created = await post<Campaign>("/api/db/campaigns", body(data));
      if (csv !== null) {
        setBusy("Importing contacts…");
        try {
          flashImport(created._id, await post<ImportResult>(`/api/db/campaigns/${created._id}/contacts/import`, csv));
        } catch (err) {
          // The campaign exists: go to it and say the import failed there.
          window.alert(`The campaign was created, but the contacts were not imported: ${errorText(err)}`);
        }
      }
      navigate(`/campaigns/${created._id}`);
    } catch (err) {
      setError(err);
      setBusy(null);
    }
  }

  return (
    <form class="campaign-form" onSubmit={submit}>
      <Card title="Campaign">
        <Field label="Name">
          <input name="name" required maxLength={200} defaultValue={campaign?.name} />
        </Field>
        <Field label="Description">
          <input name="description" defaultValue={campaign?.description} />
        </Field>
        <Field label="Agent prompt" hint="What the agent is told about this campaign (overrides the agent's default).">
          <textarea name="prompt" rows={4} defaultValue={campaign?.prompt} />
        </Field>
        <Field label="First message" hint="The agent's opening line.">
          <input name="firstMessage" defaultValue={campaign?.firstMessage} />
        </Field>
        <Field label="Caller id" hint="E.164 number to call from; empty uses TWILIO_FROM_NUMBER.">
          <input name="callerId" inputMode="tel" defaultValue={campaign?.callerId} placeholder="+15005550006" />
        </Field>
      </Card>
      <Card title="Pacing and retries">
        <div class="form-grid">
          <Field label="Seconds between calls">
            <input name="callDelay" type="number" min="0" step="any" defaultValue={String(s?.callDelay ?? 5)} />
          </Field>
          <Field label="Concurrent calls">
            <input name="maxConcurrentCalls" type="number" min="1" max="100" defaultValue={String(s?.maxConcurrentCalls ?? 1)} />
          </Field>
          <Field label="Retries">
            <input name="retryCount" type="number" min="0" max="10" defaultValue={String(s?.retryCount ?? 0)} />
          </Field>
          <Field label="Minutes before a retry">
            <input name="retryDelayMinutes" type="number" min="0" step="any" defaultValue={String((s?.retryDelay ?? 3600) / 60)} />
          </Field>
        </div>
        <fieldset>
          <legend>Retry when the call was</legend>
          {RETRY_ON.map((r) => (
            <label key={r} class="check">
              <input type="checkbox" name="retryOn" value={r} defaultChecked={s?.retryOn.includes(r)} /> {r}
            </label>
          ))}
        </fieldset>
      </Card>
      <Card title="Calling window and voicemail">
        <div class="form-grid">
          <Field label="Window opens">
            <input name="windowStart" type="time" defaultValue={w?.start} />
          </Field>
          <Field label="Window closes">
            <input name="windowEnd" type="time" defaultValue={w?.end} />
          </Field>
          <Field label="Time zone" hint="IANA name; each contact's own time zone wins.">
            <input name="windowTimezone" defaultValue={w?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone} />
          </Field>
        </div>
        <fieldset>
          <legend>Days</legend>
          {DAYS.map((d) => (
            <label key={d} class="check">
              <input type="checkbox" name="days" value={d} defaultChecked={w ? w.days.includes(d) : !["sat", "sun"].includes(d)} /> {d}
            </label>
          ))}
        </fieldset>
        <div class="form-grid">
          <Field label="When a machine answers">
            <Select
              name="voicemailAction"
              initial={s?.voicemail?.action ?? ""}
              options={[
                ["", "Server default (VOICEMAIL_ACTION)"],
                ["hangup", "Hang up"],
                ["leave-message", "Leave a message"],
              ]}
            />
          </Field>
          <Field label="Voicemail message">
            <input name="voicemailMessage" defaultValue={s?.voicemail?.message} />
          </Field>
        </div>
      </Card>
      {!campaign && (
        <Card title="Contacts">
          <Field label="Contacts CSV (optional)" hint="A header line with a phone column (phone, phoneNumber, number…); name, email, tags and others are read too.">
            <input name="csv" type="file" accept=".csv,text/csv" />
          </Field>
        </Card>
      )}
      {error !== null && <ErrorBox error={error} />}
      <div class="form-actions">
        <button type="submit" disabled={busy !== null}>
          {busy ?? (campaign ? "Save" : "Create campaign")}
        </button>
      </div>
    </form>
  );
}
