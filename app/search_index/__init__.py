"""The search index: one document per record and access tier, names folded across
romanisations, and the matching and ranking of a client's terms. Below the reading of lists,
whose `q` it matches; what the documents hold and how they are kept in step with writes is
`app.search`'s."""
