#!/usr/bin/env python3
"""Time zones and languages through the real `quire serve`: a site in Europe/Oslo (Norwegian)
shows every date on its pages in Oslo time, checked against Python's own zoneinfo, for a story
published late on a UTC day in summer (the next day in Oslo, CEST) and one in winter (CET); its
feeds carry machine dates with the offset. A site in Arabic (Asia/Beirut) serves right-to-left
pages with translated strings, including its 404 page.

usage: locale_test.py QUIRE_BINARY SOURCE_DIR
"""
import datetime
import os
import re
import sys
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, quire  # noqa: E402
import harness  # noqa: E402

work = harness.begin("locale", sys.argv[1], sys.argv[2])


def make_site(name, settings, script):
    site = os.path.join(work, name)
    quire("init", "--demo", site)
    with open(os.path.join(site, "site.lua"), "a") as f:
        f.write(settings)
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write(script)
    quire("run", "--site", site, path)
    return site


class Server(harness.Server):
    def get(self, path):
        try:
            req = urllib.request.Request(self.base + path, headers={"Accept": "text/html"})
            with urllib.request.urlopen(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


STORIES = """
local summer = quire.content.create {
  type = "article", title = "Ferry vote passes at midnight", slug = "ferry-vote", section = "News", status = "published",
  published_at = "2026-06-30T23:30:00Z", fields = { dateline = "Oslo", standfirst = "A late count." },
  body = "The council voted after a long night.\\n\\nMore follows.", author = "maren",
}
quire.content.create {
  type = "article", title = "Ice closes the inner harbour", slug = "ice-harbour", section = "News", status = "published",
  published_at = "2026-01-15T23:30:00Z", fields = { dateline = "Oslo" }, body = "Ice everywhere.", author = "maren",
}
quire.comments.create { entry = summer, author_name = "Kari", author_email = "kari@example.org", body = "Late, but right.", status = "approved" }
"""

NB_MONTHS = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "desember"]
OSLO = ZoneInfo("Europe/Oslo")


def check_times(page, label, html):
    """Every <time> on the page: its datetime carries Oslo's offset at that instant, and its text
    names the Oslo date in Norwegian ("1. juli 2026", "... kl. 01:30" for comments)."""
    times = re.findall(r'<time datetime="([^"]+)">([^<]*)</time>', html)
    check(f"{label}: has dates", len(times) > 0, html[:500])
    for stamp, text in times:
        when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        local = when.astimezone(OSLO)
        check(f"{label}: {stamp} has Oslo's offset", when.utcoffset() == local.utcoffset(), (stamp, local.isoformat()))
        want = f"{local.day}. {NB_MONTHS[local.month - 1]} {local.year}"
        check(f"{label}: {stamp} reads {want!r}", text.startswith(want), text)
        if " kl. " in text:
            check(f"{label}: {stamp} time", text.endswith(local.strftime("kl. %H:%M")), text)
    return times


# feeds = { items = 100 }: the two stories are older than the demo's newest, and must be in the feeds
oslo = make_site("oslo", '\ntimezone = "Europe/Oslo"\nlanguage = "nb"\nfeeds = { items = 100 }\n', STORIES)
with Server(oslo) as s:
    # Published on 30 June in UTC, 1 July in Oslo: its address has the date its readers see.
    status, html = s.get("/2026/07/ferry-vote")
    check("summer story: 200 at its Oslo date", status == 200, status)
    check("summer story: none at the UTC date", s.get("/2026/06/ferry-vote")[0] == 404)
    times = check_times("summer", "summer story", html)
    check("summer story: 1 July 01:30 CEST, not 30 June", ("2026-07-01T01:30:00+02:00", "1. juli 2026") in times, times)
    check("summer story: the comment in Oslo time with its hour", any("kl." in t for _, t in times), times)
    check("summer story: dateline in Norwegian", '<span class="dateline">Oslo, 1. juli 2026 –</span>' in html)
    check("summer story: Norwegian strings", "Skriv en kommentar" in html and "Send kommentar" in html and "Hopp til innholdet" in html and '<html lang="nb" dir="ltr">' in html)
    check("summer story: plural comment count", "1 kommentar<" in html, re.findall(r'comments-title">[^<]*', html))
    status, html = s.get("/2026/01/ice-harbour")
    times = check_times("winter", "winter story", html)
    check("winter story: 16 January 00:30 CET", ("2026-01-16T00:30:00+01:00", "16. januar 2026") in times, times)
    for path in ["/", "/section/news", "/search?q=ferry", "/author/maren"]:
        status, html = s.get(path)
        check(f"{path}: 200", status == 200, status)
        check_times("list", path, html)
    status, rss = s.get("/feed.xml")
    check("RSS: pubDate with +0200", "<pubDate>Wed, 01 Jul 2026 01:30:00 +0200</pubDate>" in rss, re.findall(r"<pubDate>[^<]*", rss)[:5])
    check("RSS: winter pubDate with +0100", "<pubDate>Fri, 16 Jan 2026 00:30:00 +0100</pubDate>" in rss)
    status, atom = s.get("/atom.xml")
    check("Atom: published with +02:00", "<published>2026-07-01T01:30:00+02:00</published>" in atom, re.findall(r"<published>[^<]*", atom)[:5])
    check("Atom: no UTC Z dates left", not re.search(r"<(published|updated)>[^<]*Z<", atom))

beirut = make_site("beirut", '\ntimezone = "Asia/Beirut"\nlanguage = "ar"\n', STORIES)
with Server(beirut) as s:
    status, html = s.get("/")
    check("Arabic home: 200", status == 200, status)
    check("Arabic home: dir=rtl, lang=ar", '<html lang="ar" dir="rtl">' in html, html[:200])
    check("Arabic home: translated chrome", "انتقل إلى المحتوى" in html and 'aria-label="الأقسام"' in html)
    check("Arabic home: Arabic month names", re.search(r"<time [^>]*>\d+ (يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر) \d{4}</time>", html))
    status, html = s.get("/2026/07/ferry-vote")
    check("Arabic story: 200 (its address has the date in Beirut)", status == 200, status)
    check("Arabic story: 1 July in Beirut", '<time datetime="2026-07-01T02:30:00+03:00">1 يوليو 2026</time>' in html)
    check("Arabic story: comment form", "اترك تعليقًا" in html and "أرسل التعليق" in html and "تعليق واحد" in html)
    check("Arabic story: dateline with the Arabic comma", "Oslo، 1 يوليو 2026 –" in html)
    status, html = s.get("/no/such-page")
    check("Arabic 404", status == 404 and "الصفحة غير موجودة" in html and 'dir="rtl"' in html, status)
    status, html = s.get("/search?q=%FF")
    check("Arabic search error", status == 400 and "البحث ليس نصًا صالحًا" in html, status)
    status, css = s.get("/static/theme/quire.css")
    check("CSS: no physical left/right left", not re.search(r"(margin|padding|border)-(left|right)|float: (left|right)|text-align: (left|right)", css),
          re.findall(r".{30}(?:-left|-right|float: (?:left|right)).{10}", css))

finish()
