import { ApiError, get, list } from "../api";
import { TranscriptView } from "../components/transcript";
import { Async, Badge, Card, Empty, Table } from "../components/ui";
import { dateTime, duration, label, time } from "../format";
import { useLoad, useThrottle } from "../hooks";
import { useLiveEvent } from "../realtime";
import { LIVE_STATUSES, type Call, type CallEvent, type Recording, type Transcript } from "../types";

interface Detail {
  call: Call;
  events: CallEvent[];
  transcript: Transcript | null;
  recordings: Recording[];
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

async function loadDetail(callSid: string): Promise<Detail> {
  const sid = encodeURIComponent(callSid);
  const [call, events, transcript, recordings] = await Promise.all([
    get<Call>(`/api/db/calls/${sid}`),
    list<CallEvent>(`/api/db/calls/${sid}/events`, { limit: 100 }),
    orNull(get<Transcript>(`/api/db/transcripts/${sid}`)),
    list<Recording>(`/api/db/calls/${sid}/recordings`, { limit: 100 }),
  ]);
  return { call, events: events.items, transcript, recordings: recordings.items };
}

export function CallPage({ callSid }: { callSid: string }) {
  const detail = useLoad(() => loadDetail(callSid), [callSid], 3000);
  useLiveEvent("subscribe_to_call", callSid, "call_update", useThrottle(detail.reload));
  return (
    <div class="page">
      <p class="crumbs">
        <a href="#/calls">← Calls</a>
      </p>
      <Async loaded={detail}>{(d) => <CallDetail {...d} />}</Async>
    </div>
  );
}

function CallDetail({ call, events, transcript, recordings }: Detail) {
  const live = LIVE_STATUSES.includes(call.status);
  const sentiment = transcript?.sentiment;
  const analysisSummary = typeof transcript?.analysis?.transcript_summary === "string" ? transcript.analysis.transcript_summary : null;
  return (
    <>
      <h1>
        Call to {call.contactName ?? call.to} <Badge value={call.status} />
      </h1>
      <div class="grid two">
        <Card title="Call">
          <dl class="facts">
            <dt>Status</dt>
            <dd class="call-status">
              <Badge value={call.status} />
            </dd>
            <dt>Outcome</dt>
            <dd>{call.outcome ? <Badge value={call.outcome} /> : "—"}</dd>
            <dt>Answered by (AMD)</dt>
            <dd>
              <Badge value={call.amdResult ?? call.answeredBy} />
              {call.machineBehavior && <span class="muted"> {label(call.machineBehavior)}</span>}
            </dd>
            <dt>To</dt>
            <dd class="mono">{call.to}</dd>
            <dt>From</dt>
            <dd class="mono">{call.from}</dd>
            <dt>Started</dt>
            <dd>{dateTime(call.startTime ?? call.createdAt)}</dd>
            <dt>Ended</dt>
            <dd>{dateTime(call.endTime)}</dd>
            <dt>Duration</dt>
            <dd>{duration(call.duration)}</dd>
            {call.terminatedBy && (
              <>
                <dt>Ended by</dt>
                <dd>
                  {call.terminatedBy}
                  {call.terminationReason && <span class="muted"> — {call.terminationReason}</span>}
                </dd>
              </>
            )}
            {call.errorMessage && (
              <>
                <dt>Error</dt>
                <dd>
                  {call.errorCode} {call.errorMessage}
                </dd>
              </>
            )}
            <dt>Campaign</dt>
            <dd>{call.campaignId ? <a href={`#/campaigns/${call.campaignId}`}>Open campaign</a> : "—"}</dd>
            <dt>Contact</dt>
            <dd>{call.contactId ? <a href={`#/contacts/${call.contactId}`}>{call.contactName ?? "Open contact"}</a> : (call.contactName ?? "—")}</dd>
            <dt>Call SID</dt>
            <dd class="mono wrap">{call.callSid}</dd>
          </dl>
        </Card>
        <Card title="Status timeline">
          {events.length ? (
            <ol class="timeline">
              {events.map((e) => (
                <li key={e._id}>
                  <time>{time(e.timestamp)}</time>
                  <span class="event-type">{label(e.eventType)}</span>
                  {typeof e.data?.status === "string" && <Badge value={e.data.status} />}
                  {typeof e.data?.answeredBy === "string" && <Badge value={e.data.answeredBy} />}
                </li>
              ))}
            </ol>
          ) : (
            <Empty>No events recorded.</Empty>
          )}
        </Card>
      </div>
      <Card title="Conversation">
        {transcript?.summary || analysisSummary ? (
          <p class="summary">
            <strong>Summary:</strong> {transcript?.summary ?? analysisSummary}
          </p>
        ) : null}
        {sentiment && (sentiment.label || sentiment.score !== undefined) && (
          <p>
            <strong>Sentiment:</strong> <Badge value={sentiment.label ?? "scored"} />
            {sentiment.score !== undefined && <span class="muted"> score {sentiment.score.toFixed(2)}</span>}
          </p>
        )}
        {transcript ? (
          <TranscriptView turns={transcript.transcript} follow={live} name={call.contactName} />
        ) : (
          <Empty>{live ? "The conversation has not started yet." : "No conversation was recorded for this call."}</Empty>
        )}
      </Card>
      <Card title="Recordings">
        {recordings.length ? (
          <Table caption="Recordings">
            <thead>
              <tr>
                <th scope="col">Recording</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col">Listen</th>
              </tr>
            </thead>
            <tbody>
              {recordings.map((r) => (
                <tr key={r.recordingSid}>
                  <td class="mono">{r.recordingSid}</td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td class="num">{duration(r.duration)}</td>
                  <td>
                    {r.url && r.status === "completed" ? (
                      <audio controls preload="none" src={`${r.url}.mp3`} aria-label={`Recording ${r.recordingSid}`} />
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : (
          <Empty>{live ? "The recording appears when the call ends." : "No recording for this call."}</Empty>
        )}
      </Card>
    </>
  );
}
