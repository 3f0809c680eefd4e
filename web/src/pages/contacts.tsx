import { list } from "../api";
import { CsvImport } from "../components/csv-import";
import { Async, Badge, Card, Empty, Field, Pager, Select, Table } from "../components/ui";
import { dateTime } from "../format";
import { useLoad } from "../hooks";
import { setQuery } from "../router";
import type { Contact } from "../types";

export function ContactsPage({ query }: { query: URLSearchParams }) {
  const q = query.get("q") ?? "";
  const tag = query.get("tag") ?? "";
  const status = query.get("status") ?? "";
  const page = Number(query.get("page")) || 1;
  const contacts = useLoad(() => list<Contact>("/api/db/contacts", { q, tag, status, page, limit: 25 }), [q, tag, status, page]);
  return (
    <div class="page">
      <h1>Contacts</h1>
      <Card>
        <form
          key={`${q}|${tag}|${status}`}
          class="filters"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            const data = new FormData(e.currentTarget);
            setQuery({
              q: String(data.get("q") ?? "").trim(),
              tag: String(data.get("tag") ?? "").trim(),
              status: String(data.get("status") ?? ""),
              page: undefined,
            });
          }}
        >
          <Field label="Search">
            <input type="search" name="q" defaultValue={q} placeholder="Name, email or number" />
          </Field>
          <Field label="Tag">
            <input name="tag" defaultValue={tag} />
          </Field>
          <Field label="Status">
            <Select name="status" initial={status} options={[["", "Any"], "active", "inactive", "do-not-call"]} />
          </Field>
          <div class="filter-actions">
            <button type="submit">Search</button>
          </div>
        </form>
        <details class="import">
          <summary>Import contacts from a CSV file</summary>
          <CsvImport path="/api/db/contacts/import" onDone={contacts.reload} />
        </details>
      </Card>
      <Card>
        <Async loaded={contacts}>
          {(res) =>
            res.items.length ? (
              <>
                <Table caption="Contacts">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Number</th>
                      <th scope="col">Status</th>
                      <th scope="col">Tags</th>
                      <th scope="col" class="num">
                        Calls
                      </th>
                      <th scope="col">Last contacted</th>
                    </tr>
                  </thead>
                  <tbody>
                    {res.items.map((c) => (
                      <tr key={c._id}>
                        <td>
                          <a href={`#/contacts/${c._id}`}>{c.name || "(no name)"}</a>
                        </td>
                        <td class="mono">{c.phoneNumber}</td>
                        <td>
                          <Badge value={c.status} />
                        </td>
                        <td>
                          {c.tags.map((t) => (
                            <span key={t} class="tag">
                              {t}
                            </span>
                          ))}
                        </td>
                        <td class="num">{c.callCount}</td>
                        <td>{dateTime(c.lastContacted)}</td>
                      </tr>
                    ))}
                  </tbody>
                </Table>
                <Pager pagination={res.pagination} onPage={(p) => setQuery({ page: p })} />
              </>
            ) : (
              <Empty>{q || tag || status ? "No contact matches." : "No contacts yet: import a CSV file above."}</Empty>
            )
          }
        </Async>
      </Card>
    </div>
  );
}
