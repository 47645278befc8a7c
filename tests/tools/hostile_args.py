#!/usr/bin/env python3
"""hostile_args.py - hostile argument strings for the argv tests
(tests/regress/hostile_argv.sh, tests/regress/remote_rig.sh).

  hostile_args.py gen SEED COUNT YAMLOUT WANTOUT [PREFIX...]
      COUNT strings: every code point U+0001..U+00FF (so every byte
      0x01..0x7F raw, and 0x80..0xBF and 0xC2/0xC3 in their UTF-8 form),
      code points whose UTF-8 lead bytes are 0xC4..0xF4, quotes, $(...),
      backticks, ${...} (written $${ in the config: a literal), newlines,
      globs, leading dashes, empty strings, and a few very long ones
      (up to 100000 bytes). YAMLOUT gets them as the items of a YAML block
      sequence at indent 4 ("    - "; double-quoted, escaped), after the
      PREFIX items (as they are: "${run_dir}" stays a placeholder), to
      follow a config's "command:"; WANTOUT the expected
      argv, each string's UTF-8 bytes followed by a NUL.
  hostile_args.py cmp WANTOUT GOTOUT
      prints "N/M arguments byte-exact" (M: expected) and the first
      difference; exit 0 only when all M match and nothing is extra.
  hostile_args.py dump FILE ARGS...
      (the process under test) writes ARGS NUL-separated to FILE.

The bytes 0x00, 0xC0, 0xC1 and 0xF5..0xFF cannot be in a config (it is
UTF-8 text; a NUL cannot be in an argv): the test checks that a config
holding them is refused with a clear message.
"""
import random, sys

PIECES = ["'", '"', "$(id)", "`id`", "$(rm -rf /)", ";", "&&", "||", "|",
          "\n", "\r\n", "\t", " ", "  ", "\\", "\\\\", "*", "?", "[a-z]",
          "~", "~root", "!", "#", "%s%n", "-n", "-e", "--", "-rf",
          "--help", "-", "$HOME", "${x}", "$${y}", "$", "$$", "{a,b}",
          "<", ">", ">>", "2>&1", "&", "\u00fc", "\u2603", "\u202e",
          "\ufeff", "\U0001f600", "\x7f", "\x1b[31m", "=", "a=b", ",",
          "]", "}", "...", "/", "../../etc/passwd", "\u00ff", "\u0085"]


def yaml_quote(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= c < 0x7f:
            out.append(ch)
        elif c < 0x100:
            out.append("\\x%02x" % c)
        elif c < 0x10000:
            out.append("\\u%04x" % c)
        else:
            out.append("\\U%08x" % c)
    out.append('"')
    return "".join(out)


def gen(seed, count, yout, wout, prefix):
    rnd = random.Random(seed)
    args = []
    # Every code point 1..255 alone, then in company.
    for c in range(1, 256):
        args.append(chr(c))
    for c in range(1, 256, 3):
        args.append("x" + chr(c) + chr(256 - c) + "y")
    # Lead bytes 0xC4..0xF4 (2-, 3- and 4-byte forms).
    for lead in range(0xC4, 0xE0):
        args.append(chr(((lead & 0x1F) << 6) | 0x10))
    for lead in range(0xE0, 0xF0):
        cp = ((lead & 0x0F) << 12) | 0x123
        if 0xD800 <= cp < 0xE000:
            cp = 0xE123
        args.append(chr(max(cp, 0x800)))
    for lead in range(0xF0, 0xF5):
        args.append(chr(max(((lead & 0x07) << 18) | 0x1234, 0x10000)))
    args += ["", "-", "--", "--help", "-rf /"]
    args.append("L" * 100000)
    args.append("".join(rnd.choice(PIECES) for _ in range(2000))[:60000])
    while len(args) < count:
        k = rnd.random()
        if k < 0.7:
            a = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 5)))
        elif k < 0.95:
            a = "".join(chr(rnd.randint(1, 255)) for _ in range(rnd.randint(1, 12)))
        else:
            a = "".join(chr(rnd.choice([rnd.randint(0x100, 0xD7FF),
                                        rnd.randint(0xE000, 0x10FFFF)]))
                        for _ in range(rnd.randint(1, 4)))
        args.append(a)
    args = args[:count]
    with open(yout, "w", encoding="utf-8") as f:
        for a in prefix:
            f.write("    - " + yaml_quote(a) + "\n")
        for a in args:
            # ${ is a placeholder in a config; $${ is the literal.
            f.write("    - " + yaml_quote(a.replace("${", "$${")) + "\n")
    with open(wout, "wb") as f:
        for a in args:
            f.write(a.encode("utf-8") + b"\0")


def cmp(wout, gout):
    want = open(wout, "rb").read().split(b"\0")[:-1]
    try:
        got = open(gout, "rb").read().split(b"\0")[:-1]
    except OSError:
        got = []
    ok = sum(1 for w, g in zip(want, got) if w == g)
    print("%d/%d arguments byte-exact" % (ok, len(want)))
    for i, (w, g) in enumerate(zip(want, got)):
        if w != g:
            print("  first difference: argument %d: want %r got %r"
                  % (i, w[:60], g[:60]))
            break
    if len(got) != len(want):
        print("  got %d arguments" % len(got))
    return 0 if ok == len(want) == len(got) else 1


def main():
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5],
            sys.argv[6:])
        return 0
    if sys.argv[1] == "cmp":
        return cmp(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "dump":
        with open(sys.argv[2], "wb") as f:
            for a in sys.argv[3:]:
                f.write(a.encode("utf-8", "surrogateescape") + b"\0")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
