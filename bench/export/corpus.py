#!/usr/bin/env python3
"""The corpus of bench/export.sh, written for both tools from one seeded generator:
N posts, each with a section, 5 distinct tags drawn from a Zipf distribution over 400 tags, a
title and a Markdown body of ~800 words (paragraphs, a heading, emphasis, a list, a link).
Words are made up from syllables (no text copied from anywhere).
usage: corpus.py N OUT.jsonl HUGO_SITE_DIR"""
import datetime
import json
import os
import random
import sys

n, jsonl, hugo = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(21)
SYL = ["ba", "ro", "ten", "mi", "sal", "ku", "dor", "fe", "lin", "pa", "vos", "ne", "tri", "gal", "mo", "ser", "ha", "bel"]
words = sorted({"".join(rng.choice(SYL) for _ in range(rng.randint(1, 3))) for _ in range(3000)})
tags = [f"{w}-{i}" for i, w in enumerate(rng.sample(words, 400))]
zipf = [1 / (k + 1) ** 1.1 for k in range(len(tags))]
END = datetime.datetime(2025, 12, 31, 12, 0)
sections = ["news", "politics", "business", "sport", "culture", "science", "opinion-desk", "world"]


def sentence(lo, hi):
    s = " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
    return s[0].upper() + s[1:]


def body():
    paras, count = [], 0
    while count < 800:
        k = rng.random()
        if k < 0.08:
            p = "## " + sentence(3, 6)
        elif k < 0.15:
            p = "\n".join("- " + sentence(4, 9) for _ in range(3))
        else:
            sents = [sentence(8, 18) + "." for _ in range(rng.randint(3, 6))]
            if rng.random() < 0.3:
                sents[0] = sents[0].replace(" ", " *", 1).replace(".", "*.", 1) if " " in sents[0] else sents[0]
            if rng.random() < 0.2:
                w = rng.choice(words)
                sents.append(f"See [{w}](https://example.org/{w}).")
            p = " ".join(sents)
        count += len(p.split())
        paras.append(p)
    return "\n\n".join(paras)


os.makedirs(os.path.join(hugo, "content", "posts"), exist_ok=True)
with open(jsonl, "w") as out:
    for i in range(n):
        picked = set()
        while len(picked) < 5:
            picked.add(rng.choices(range(len(tags)), weights=zipf)[0])
        post = {
            "slug": f"post-{i}",
            "title": sentence(5, 9),
            "section": rng.choice(sections),
            "tags": [tags[k] for k in sorted(picked)],
            # one every 157 minutes, backwards from the end of 2025
            "published_at": (END - datetime.timedelta(minutes=157 * i)).strftime("%Y-%m-%dT%H:%M:00Z"),
            "body": body(),
        }
        out.write(json.dumps(post) + "\n")
        with open(os.path.join(hugo, "content", "posts", post["slug"] + ".md"), "w") as f:
            f.write("---\n" + json.dumps({"title": post["title"], "date": post["published_at"], "slug": post["slug"],
                                          "tags": post["tags"], "sections": [post["section"]]}) + "\n---\n\n" + post["body"] + "\n")
