-- Quire site configuration. Plain Lua: a later assignment wins.
name = "fz-plain"
base_url = "http://localhost:8080"

-- Addresses to listen on (IPv4 and IPv6).
-- listen = { "127.0.0.1:8080", "[::1]:8080" }

-- Worker processes; 0 means one per CPU core.
-- workers = 0

-- Access log in the combined format (plus request id and seconds taken): "-" is stdout,
-- "stderr", "off", or a file relative to this folder, reopened on SIGUSR1 (logrotate).
-- access_log = "logs/access.log"

-- HTTPS (TLS 1.2; ECDHE with AES-GCM or ChaCha20-Poly1305). Paths are relative to this folder.
-- The first certificate is the default; others are chosen by SNI, for their `hosts` or, without
-- them, for the DNS names in the certificate. SIGHUP reloads renewed certificates.
-- tls = {
--   listen = { "0.0.0.0:443", "[::]:443" },
--   certificates = {
--     { cert = "certs/fullchain.pem", key = "certs/privkey.pem" },
--     -- { cert = "certs/other.pem", key = "certs/other.key", hosts = { "other.example" } },
--   },
--   redirect_http = true,        -- plain HTTP answers 301 to https:// (ACME challenges excepted)
--   hsts = "max-age=31536000",   -- Strict-Transport-Security on HTTPS responses
-- }

-- Plugins, found in this site's plugins/ first, then among the bundled ones.
plugins = { }

-- The SQLite database, relative to this folder.
-- database = "quire.db"

-- Limits on what a save or a request may carry.
-- limits = {
--   title_max = 300,          -- characters in a title
--   slug_max = 200,           -- bytes in a slug
--   body_max = 1048576,       -- bytes of Markdown in a body
--   fields_max = 262144,      -- bytes of JSON in an entry's fields
--   tags_max = 50,            -- tags on one entry
--   term_max = 100,           -- characters in a tag or section name
--   comment_max = 10000,      -- bytes in a comment
--   request_body = 1048576,   -- bytes in a request body (413 past it)
--   request_line = 8192,      -- bytes in the request line (414)
--   header = 8192,            -- bytes in one header field (431)
--   headers = 32768,          -- bytes in all header fields (431)
--   header_count = 100,       -- header fields (431)
--   header_timeout_ms = 10000, -- to receive a request head (408)
--   keepalive_timeout_ms = 15000, -- idle keep-alive connections close after this
--   body_min_rate = 1024,     -- bytes per second a request body must keep up (408)
--   connections = 10000,      -- connections per worker
--   connections_per_ip = 256, -- connections per client address, per worker
--   page_cache_bytes = 67108864, -- rendered pages kept per worker
--   busy_timeout_ms = 5000,   -- how long a write waits for another writer
--   instructions = 10000000,  -- instruction budget of one call into plugin code
--   lua_memory = 268435456,   -- memory cap of a Lua state running plugins
-- }

-- A plugin's settings are overridden by a table named after it, e.g.
-- related = { threshold = 60 }
