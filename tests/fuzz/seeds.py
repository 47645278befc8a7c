#!/usr/bin/env python3
# seeds.py - writes the seed corpora tests/fuzz/corpus/<target>/ from the
# fixtures in tests/data (a few small real examples per target), plus a few
# hand-made inputs. The layouts (choice bytes first) are each harness's:
# see the comment at the top of tests/fuzz/<target>.c. Run from the tree's
# root; files already there (regression seeds) are left alone.
import base64, os, struct

D = "tests/data"
C = "tests/fuzz/corpus"

def put(target, name, data):
    os.makedirs(os.path.join(C, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(C, target, name), "wb") as f:
        f.write(data)

def rd(rel):
    with open(os.path.join(D, rel), "rb") as f:
        return f.read()

# config: the good fixtures and a few bad ones
for n in ["plain", "torchrun", "stages", "hccl", "msrun"]:
    put("config", n + ".yaml", rd("configs/good/%s.yaml" % n))
for n in ["alias_bomb", "duplicate_key", "tabs", "unclosed_flow",
          "several_errors", "two_documents"]:
    put("config", "bad_" + n + ".yaml", rd("configs/bad/%s.yaml" % n))

# proto: chunking byte, then agent lines
put("proto", "events", b"\x00" +
    b'{"type":"hello","v":1,"run":"r1","last_seq":0}\n'
    b'{"seq":1,"t":1700000000000,"type":"state","scope":"run","state":"starting"}\n'
    b'{"seq":2,"t":1700000000001,"type":"metric","rank":0,"step":10,"loss":0.5,"lr":"nan"}\n'
    b'{"seq":3,"type":"log","rank":1,"level":"error","text":"Traceback\\n  x"}\n')
put("proto", "bad_then_good", b"\x05" + b'{"type":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n'
    b'not json\n{"type":"hb"}\n{"stop":1}\n{"cmd":"signal","signal":"TERM"}\n')

# parse_*: chunking byte, segment-cap byte, restart-pick byte, the log
for fmt, logs in [("mindone", ["mindone", "mindone_sink"]),
                  ("mindspore", ["mindspore", "mindspore_callback"]),
                  ("kohya", ["kohya"]), ("diffusers", ["diffusers"]),
                  ("jsonl", ["jsonl"]), ("regex", ["regex"]),
                  ("auto", ["mindone", "kohya", "jsonl", "diffusers"])]:
    for i, lg in enumerate(logs):
        put("parse_" + fmt, lg, bytes([i * 3, i, 7]) + rd("logs/%s.log" % lg))

# hostrange: add line, exclude line, add line
put("hostrange", "ranges", "node[01-16,20]\nnode[03-05]\nrack[1-2]-n[1-3]\n")
put("hostrange", "dotted", "10.0.[1-2].[5-6],gpu1\n10.0.1.5\n10.0.0.[2-5]\n")
put("hostrange", "files", "^/tmp/drover-fuzz-hostrange/a\nnode2\n^/tmp/drover-fuzz-hostrange/b\n")

# knownhosts: key byte, port byte, host line, file; keys as the harness
# makes them
def sshstr(b):
    return struct.pack(">I", len(b)) + b
ed = [base64.b64encode(sshstr(b"ssh-ed25519") + sshstr(bytes([0x11 * (i + 1)]) * 32)).decode()
      for i in range(2)]
rsa = base64.b64encode(sshstr(b"ssh-rsa") + sshstr(b"\x01\x00\x01") + sshstr(b"\x22" * 16)).decode()
pat = rd("knownhosts/patterns").decode()
pat = pat.replace("@A@", "ssh-ed25519 " + ed[0]).replace("@B@", "ssh-ed25519 " + ed[1]).replace("@R@", "ssh-rsa " + rsa)
put("knownhosts", "patterns_gpu1", "\x00\x02gpu1\n" + pat)
put("knownhosts", "patterns_revoked", "\x01\x00revoked.example\n" + pat)
put("knownhosts", "patterns_node", "\x82\x00nodeX\n" + pat)
put("knownhosts", "garbage", b"\x00\x00host1\n" + rd("knownhosts/garbage"))
put("knownhosts", "hashed", "\x00\x00gpu9\n|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|AAAAAAAAAAAAAAAAAAAAAAAAAAA= ssh-ed25519 " + ed[0] + "\n")

# ranktable: mode byte 0 + NUL-separated tables; mode 1 + ndev + hccn text
put("ranktable", "two_v10", b"\x00" + rd("ranktables/hccl_8p_01234567_10.0.0.2.json") + b"\x00" +
    rd("ranktables/hccl_8p_01234567_10.0.0.3.json"))
put("ranktable", "two_a3", b"\x00" + rd("ranktables/a3_node0.json") + b"\x00" + rd("ranktables/a3_node1.json"))
put("ranktable", "v12", b"\x00" + rd("ranktables/version_1.2_10.0.0.3.json"))
put("ranktable", "bad", b"\x00" + rd("ranktables/bad_json.json"))
put("ranktable", "hccn", b"\x01\x08" + rd("ranktables/hccn.conf"))

# spool: from-seq byte, then the spool with a torn last line and garbage
sp = (b'{"seq":1,"t":1,"type":"state","scope":"run","state":"starting"}\n'
      b'{"seq":2,"t":2,"type":"state","scope":"rank","rank":0,"state":"running","pid":10,"start_time":5}\n'
      b'{"seq":3,"t":3,"type":"metric","rank":0,"step":1,"loss":0.5,"src":[7,100,90]}\n'
      b'garbage line\n'
      b'{"seq":4,"t":4,"type":"state","scope":"rank","rank":0,"state":"exited","code":0}\n'
      b'{"seq":5,"t":5,"type":"state","scope":"run","state":"exited","result":"ok"}\n'
      b'{"seq":6,"t":6,"type":"log","ra')
put("spool", "torn", b"\x00" + sp)
put("spool", "from3", b"\x03" + sp)

# logtail: chunking byte, ring-size byte, console bytes
lt = (b"step 1 loss 0.5\r\x1b[32mprogress 50%\x1b[0m\rprogress 100%\n"
      b"WARNING: low disk\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
      b"ValueError: bad\n[rank3]: RuntimeError: x\n\xff\xfe invalid \x00 nul\tTab\npartial")
put("logtail", "mixed", b"\x00\x00" + lt)
put("logtail", "bytewise", b"\x01\x02" + lt + rd("logs/mindone.log"))

# quote: NUL-separated argv
put("quote", "plain", b"python3\x00train.py\x00--lr=1e-4\x00a b\x00it's\x00")
put("quote", "hostile", b"if\x00$(rm -rf /)\x00`x`\x00'\x00\\\x00*\x00~\x00!\x00a\nb\x00#c\x00\xff\x00")
