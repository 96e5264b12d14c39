#!/usr/bin/env python3
"""Prints the regular-expression bracket of db/pg/0029_search_text.sql: every code point above
ASCII that a UTF-8 LC_CTYPE makes PostgreSQL's text-search parser take for the space between
words, as Unicode general categories (from Python's unicodedata): punctuation (P*), symbols
(S*), separators (Z*), numbers other than digits (No: superscripts, fractions), controls (Cc)
and format characters (Cf: soft hyphen, zero-width joiners, byte order mark), but not the
Latin letters in circles and squares (So, yet Alphabetic: glibc takes them for letters).
Code points unassigned in this Unicode version stay out (a later one may make them letters).

    python3 db/pg/search_text.py   (then paste its output into the migration)
"""
import unicodedata

ALPHABETIC_SYMBOLS = [(0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189)]


def is_space(c):
    cat = unicodedata.category(chr(c))
    if any(lo <= c <= hi for lo, hi in ALPHABETIC_SYMBOLS):
        return False
    return cat[0] in "PSZ" or cat in ("No", "Cc", "Cf")


def ranges():
    out, start = [], None
    for c in range(0x80, 0x110001):
        hit = c <= 0x10FFFF and not 0xD800 <= c <= 0xDFFF and is_space(c)
        if hit and start is None:
            start = c
        elif not hit and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def esc(c):
    return "\\u%04X" % c if c <= 0xFFFF else "\\U%08X" % c


if __name__ == "__main__":
    parts = [esc(lo) if lo == hi else esc(lo) + "-" + esc(hi) for lo, hi in ranges()]
    print("-- Unicode %s" % unicodedata.unidata_version)
    line = "["
    for p in parts: # lines of at most 100 characters: SQL joins string constants split by a newline
        if len(line) + len(p) > 96:
            print("'" + line + "'")
            line = ""
        line += p
    print("'" + line + "]'")
