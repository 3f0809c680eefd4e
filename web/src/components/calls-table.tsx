import { dateTime, duration } from "../format";
import type { Call } from "../types";
import { Badge, Table } from "./ui";

export function CallsTable({ calls, caption }: { calls: Call[]; caption: string }) {
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">To</th>
          <th scope="col">Contact</th>
          <th scope="col">Status</th>
          <th scope="col">Outcome</th>
          <th scope="col" class="num">
            Duration
          </th>
        </tr>
      </thead>
      <tbody>
        {calls.map((c) => (
          <tr key={c.callSid}>
            <td>
              <a href={`#/calls/${c.callSid}`}>{dateTime(c.startTime ?? c.createdAt)}</a>
            </td>
            <td class="mono">{c.to}</td>
            <td>{c.contactId ? <a href={`#/contacts/${c.contactId}`}>{c.contactName ?? "contact"}</a> : (c.contactName ?? "—")}</td>
            <td>
              <Badge value={c.status} />
            </td>
            <td>
              <Badge value={c.outcome ?? c.answeredBy} />
            </td>
            <td class="num">{duration(c.duration)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}
