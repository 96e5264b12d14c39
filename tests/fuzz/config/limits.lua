name = "Limits"
plugins = { "theme" }
limits = { instructions = 1000000, request_body = 65536, header_timeout_ms = 1500 }
listen = { "127.0.0.1:8080" }
access_log = "logs/access.log"
theme = { accent = "#c00" }
base_url = os.getenv("QUIRE_BASE_URL") or "https://example.org"
