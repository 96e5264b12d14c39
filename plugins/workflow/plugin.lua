-- The default editorial workflow: draft -> review -> scheduled -> published -> archived, with
-- unpublish back to draft. Contributors submit; authors publish and schedule their own entries;
-- editors schedule and publish anyone's, archive and unpublish.
-- A site with other rules enables its own plugin instead (or after this one, redefining names).
return quire.plugin {
  name = "workflow", version = "1.0",
  settings = {
    require_standfirst = true, -- articles need a standfirst before they are published
    require_tag = true,        -- ... and at least one tag
  },
  setup = function(site)
    local settings = site.settings

    local function ready_to_publish(entry, user)
      if user and user.role == "author" and entry.author_id ~= user.id then
        return false, "an author publishes only their own entries"
      end
      if entry.type ~= "article" then return true end
      if settings.require_standfirst and not (entry.fields.standfirst and entry.fields.standfirst:match("%S")) then
        return false, "an article needs a standfirst before it is published"
      end
      if settings.require_tag and #entry.tags == 0 then
        return false, "an article needs at least one tag before it is published"
      end
      return true
    end

    site:transition { name = "submit", from = { "draft" }, to = "review", role = "contributor" }
    site:transition { name = "reject", from = { "review" }, to = "draft", role = "editor" }
    site:transition {
      name = "schedule", from = { "draft", "review" }, to = "scheduled", role = "author",
      check = function(entry, user)
        if not entry.published_at or entry.published_at <= quire.time.now() then
          return false, "a scheduled entry needs a publication time in the future"
        end
        return ready_to_publish(entry, user)
      end,
    }
    site:transition { name = "publish", from = { "draft", "review", "scheduled" }, to = "published", role = "author", check = ready_to_publish }
    site:transition { name = "unpublish", from = { "published", "scheduled" }, to = "draft", role = "editor" }
    site:transition { name = "archive", from = { "published" }, to = "archived", role = "editor" }
    site:transition { name = "restore", from = { "archived" }, to = "published", role = "editor" }
  end,
}
