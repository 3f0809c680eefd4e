import { dateTime, duration, time } from "../format";
import type { Call } from "../types";
import { Badge, Table } from "./ui";

/// `compact` (for narrow cards) shows the time only and leaves out the outcome and number.
export function CallsTable({ calls, caption, compact = false }: { calls: Call[]; caption: string; compact?: boolean }) {
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          <th scope="col">Started</th>
          {!compact && <th scope="col">To</th>}
          <th scope="col">Contact</th>
          <th scope="col">Status</th>
          {!compact && <th scope="col">Outcome</th>}
          <th scope="col" class="num">
            Duration
          </th>
        </tr>
      </thead>
      <tbody>
        {calls.map((c) => (
          <tr key={c.callSid}>
            <td>
              <a href={`#/calls/${c.callSid}`}>{(compact ? time : dateTime)(c.startTime ?? c.createdAt)}</a>
            </td>
            {!compact && <td class="mono">{c.to}</td>}
            <td>{c.contactId ? <a href={`#/contacts/${c.contactId}`}>{c.contactName ?? c.to}</a> : (c.contactName ?? (compact ? c.to : "—"))}</td>
            <td>
              <Badge value={c.status} />
            </td>
            {!compact && (
              <td>
                <Badge value={c.outcome ?? c.answeredBy} />
              </td>
            )}
            <td class="num">{duration(c.duration)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}
