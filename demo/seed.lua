-- Demo content for `make demo`: a small news site of the shape the seed page shows
-- (a dated news story, an opinion piece, neighbours, related stories, comments, shares).

quire.store.transaction(function()
  quire.users.create { login = "ines", name = "Inês Carvalho", role = "editor",
    bio = "Inês covers transport and city politics for the Courier." }
  quire.users.create { login = "tomas", name = "Tomás Reyes",
    bio = "Tomás writes the Courier's weekly column on the economy of cities." }

  local stories = {
    { "Ferry strike ends as harbour workers accept new rota", "Setúbal", "2026-03-02T07:40:00Z", { "Transport", "Labour" },
      "Crossings resume on Tuesday after a three-week stoppage that stranded commuters on both banks." },
    { "City council approves night-bus network after year of delays", "Lisbon", "2026-03-03T18:05:00Z", { "Transport", "City Hall" },
      "Twelve routes will run between midnight and five from June, paid for by a tourist levy." },
    { "Harbour bridge reopens to traffic after six months of repairs", "Lisbon", "2026-03-04T08:15:00Z", { "Transport", "Infrastructure" },
      "Engineers replaced two hundred cables and the deck joints; the toll stays frozen until autumn." },
    { "Port authority publishes plan to electrify the container cranes", "Sines", "2026-03-05T11:30:00Z", { "Infrastructure", "Energy" },
      "The plan would cut the port's diesel use by half within four years, the authority says." },
  }
  local ids = {}
  for i, s in ipairs(stories) do
    ids[i] = quire.content.create {
      type = "article", title = s[1], status = "published", published_at = s[3], author = "ines",
      section = "Local", tags = s[4], fields = { dateline = s[2], standfirst = s[5] },
      body = s[5] .. "\n\nOfficials said the details would follow in the coming days. "
        .. "Residents who spoke to the Courier welcomed the news, though several asked why it had taken so long.\n\n"
        .. "The council meets again on Thursday, when the budget for the next phase is expected to be approved.",
    }
  end

  local op = quire.content.create {
    type = "opinion", title = "A bridge is a promise a city makes to itself", status = "published",
    published_at = "2026-03-04T12:00:00Z", author = "tomas", section = "Opinion", tags = { "Infrastructure", "Transport" },
    fields = { standfirst = "Six months without the bridge showed what it holds together.",
      pull_quote = "Maintenance is not glamorous, but it is the difference between a city and a collection of districts." },
    body = "For six months the river was wider than it had been in fifty years.\n\n"
      .. "Maintenance is not glamorous, but it is the difference between a city and a collection of districts. "
      .. "The repairs were late, costly and necessary; the next ones should not wait for cracks to appear.",
  }

  local c1 = quire.comments.create { entry = ids[3], author_name = "Marta", author_email = "marta@example.org",
    body = "Finally! The detour added forty minutes to my commute.", status = "approved" }
  quire.comments.create { entry = ids[3], parent = c1, author_name = "Rui", author_email = "rui@example.org",
    author_url = "https://rui.example.org", body = "Same here. Hope the toll freeze lasts.", status = "approved" }
  quire.comments.create { entry = op, author_name = "Ana", author_email = "ana@example.org",
    body = "Well argued, though the ferry deserves a column of its own.", status = "held" }
  print(("Seeded %d stories, 1 opinion piece, 3 comments."):format(#ids))
end)
