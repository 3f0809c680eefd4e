import { list } from "../api";
import { Progress } from "../components/progress";
import { Async, Badge, Card, Empty, Pager, Table } from "../components/ui";
import { dateTime } from "../format";
import { useLoad, useThrottle } from "../hooks";
import { useLiveEvent } from "../realtime";
import { useState } from "preact/hooks";
import type { Campaign } from "../types";

export function CampaignsPage() {
  const [page, setPage] = useState(1);
  const campaigns = useLoad(() => list<Campaign>("/api/db/campaigns", { page, limit: 20 }), [page], 5000);
  useLiveEvent("subscribe_to_campaigns", undefined, "campaign_update", useThrottle(campaigns.reload));
  return (
    <div class="page">
      <div class="page-head">
        <h1>Campaigns</h1>
        <a class="button" href="#/campaigns/new">
          New campaign
        </a>
      </div>
      <Card>
        <Async loaded={campaigns}>
          {(res) =>
            res.items.length ? (
              <>
                <Table caption="Campaigns">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Status</th>
                      <th scope="col">Progress</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {res.items.map((c) => (
                      <tr key={c._id}>
                        <td>
                          <a href={`#/campaigns/${c._id}`}>{c.name}</a>
                        </td>
                        <td>
                          <Badge value={c.status} />
                        </td>
                        <td>
                          <Progress stats={c.stats} />
                        </td>
                        <td>{dateTime(c.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </Table>
                <Pager pagination={res.pagination} onPage={setPage} />
              </>
            ) : (
              <Empty>
                No campaigns yet. <a href="#/campaigns/new">Create one</a> from a list of contacts.
              </Empty>
            )
          }
        </Async>
      </Card>
    </div>
  );
}
