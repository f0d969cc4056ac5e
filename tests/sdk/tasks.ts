// What a TypeScript client does with the API, through the client generated from the OpenAPI
// document (openapi-typescript types, openapi-fetch calls). tests/test_sdk.py generates
// `schema.d.ts` beside this file, compiles both strictly, runs this against a live server
// (TESTIMONY_URL, TESTIMONY_KEY: a key with the write scope) and checks what it prints.
import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];

const baseUrl = process.env.TESTIMONY_URL;
const key = process.env.TESTIMONY_KEY;
if (!baseUrl || !key) {
  throw new Error("set TESTIMONY_URL and TESTIMONY_KEY");
}
const anonymous = createClient<paths>({ baseUrl });
const writer = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

function fail(what: string, problem: Problem | undefined): never {
  throw new Error(`${what}: ${JSON.stringify(problem)}`);
}

// Anonymous reads: every claim, page by page.
async function claimPage(cursor: string | null): Promise<components["schemas"]["ClaimPage"]> {
  const { data, error } = await anonymous.GET("/v1/claims", {
    params: { query: { limit: 10, sort: "id", cursor } },
  });
  if (!data) fail("list claims", error);
  return data;
}

const claims: string[] = [];
let pages = 0;
for (let cursor: string | null = null; pages === 0 || cursor; pages += 1) {
  const page = await claimPage(cursor);
  claims.push(...page.data.map((claim) => claim.id));
  cursor = page.page.next_cursor;
}

// One citation as BibTeX, as text.
const sourceId = await firstSource();
const citation = await anonymous.GET("/v1/sources/{source_id}/citation.bib", {
  params: { path: { source_id: sourceId } },
  parseAs: "text",
});
if (citation.data === undefined) fail("cite a source", citation.error);

// One import, as a JSON body.
const imported = await writer.POST("/v1/import", {
  body: {
    records: [
      {
        type: "organization",
        record: { id: "typescript-sdk-ngo", name: "An NGO from TypeScript", kind: "ngo" },
      },
    ],
  },
});
if (!imported.data) fail("import", imported.error);

// One write with If-Match: the ETag of the version read.
const read = await anonymous.GET("/v1/organizations/{organization_id}", {
  params: { path: { organization_id: "typescript-sdk-ngo" } },
});
const etag = read.response.headers.get("ETag");
if (!read.data || !etag) fail("read the organization", read.error);
const changed = await writer.PATCH("/v1/organizations/{organization_id}", {
  params: { path: { organization_id: "typescript-sdk-ngo" }, header: { "If-Match": etag } },
  body: { description: "Changed through the TypeScript client." },
});
if (!changed.data) fail("update the organization", changed.error);

// A stale version and a missing record, read as problem+json.
const stale = await writer.PATCH("/v1/organizations/{organization_id}", {
  params: { path: { organization_id: "typescript-sdk-ngo" }, header: { "If-Match": etag } },
  body: { description: "Lost update." },
});
const missing = await anonymous.GET("/v1/claims/{claim_id}", {
  params: { path: { claim_id: "no-such-claim" } },
});

async function firstSource(): Promise<string> {
  const { data, error } = await anonymous.GET("/v1/sources", { params: { query: { limit: 1 } } });
  if (!data?.data[0]) fail("list sources", error);
  return data.data[0].id;
}

console.log(
  JSON.stringify({
    claims,
    pages,
    source: sourceId,
    bibtex: citation.data,
    imported: imported.data.created,
    description: changed.data.description,
    changed_etag: changed.response.headers.get("ETag"),
    etag,
    stale: { status: stale.response.status, problem: stale.error ?? null },
    missing: {
      status: missing.response.status,
      content_type: missing.response.headers.get("Content-Type"),
      problem: missing.error ?? null,
    },
  }),
);
